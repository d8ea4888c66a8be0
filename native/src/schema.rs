//! Writer schemas compiled into a node arena, and the projection plan of one schema.
//!
//! The plan mirrors `rbc1000.alerts.projection.project_schema`: the top-level record keeps
//! the fields scoring needs, nested records reached directly or through unions keep their
//! own subset, everything else is skipped without being materialised. A schema this
//! compiler does not understand, or whose kept fields carry a logical type (fastavro would
//! convert those to Python objects), is refused so that the caller uses the Python path.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::skip::{compile_all, SkipOp};

#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Boolean,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Fixed(i64),
    Enum(Vec<Arc<str>>),
    Array(usize),
    Map(usize),
    Union(Vec<usize>),
    Record(Vec<(Arc<str>, usize)>),
}

/// What to keep of a value: all of it, or some fields of a record.
#[derive(Debug, Clone)]
pub enum Keep {
    Whole,
    Fields(Vec<(String, Keep)>),
}

#[derive(Debug)]
pub enum FieldAct {
    Skip(usize),
    Read(Arc<str>, usize),
    Project(Arc<str>, ProjNode),
}

#[derive(Debug)]
pub enum ProjNode {
    Record(Vec<FieldAct>),
    Union(Vec<ProjNode>),
    Whole(usize),
}

/// A compiled writer schema: its nodes, how to read the projected top-level record, and
/// how to skip each node (`crate::skip`).
#[derive(Debug)]
pub struct Schema {
    pub nodes: Vec<Node>,
    pub top: Vec<FieldAct>,
    pub skips: Vec<SkipOp>,
}

struct Compiler {
    nodes: Vec<Node>,
    names: HashMap<String, usize>,
    logical: Vec<bool>,
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() && !name.contains('.') => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn parent_namespace(full: &str) -> Option<String> {
    full.rsplit_once('.').map(|(ns, _)| ns.to_owned())
}

impl Compiler {
    fn push(&mut self, node: Node, logical: bool) -> usize {
        self.nodes.push(node);
        self.logical.push(logical);
        self.nodes.len() - 1
    }

    fn primitive(&mut self, name: &str, logical: bool) -> Option<usize> {
        let node = match name {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" | "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::Str,
            _ => return None,
        };
        Some(self.push(node, logical))
    }

    fn named_ref(&self, name: &str, ns: Option<&str>) -> Result<usize, String> {
        let full = full_name(name, ns);
        self.names
            .get(&full)
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| format!("unknown type {name}"))
    }

    fn compile(&mut self, schema: &Json, ns: Option<&str>) -> Result<usize, String> {
        match schema {
            Json::String(name) => match self.primitive(name, false) {
                Some(id) => Ok(id),
                None => self.named_ref(name, ns),
            },
            Json::Array(branches) => {
                let ids = branches
                    .iter()
                    .map(|b| self.compile(b, ns))
                    .collect::<Result<_, _>>()?;
                Ok(self.push(Node::Union(ids), false))
            }
            Json::Object(obj) => self.compile_object(obj, ns),
            _ => Err("schema is not a string, list or object".into()),
        }
    }

    fn compile_object(
        &mut self,
        obj: &serde_json::Map<String, Json>,
        ns: Option<&str>,
    ) -> Result<usize, String> {
        let logical = obj.contains_key("logicalType");
        let kind = obj.get("type").ok_or("type without 'type'")?;
        let kind = match kind {
            Json::String(k) => k.as_str(),
            nested => return self.compile(nested, ns),
        };
        if let Some(id) = self.primitive(kind, logical) {
            return Ok(id);
        }
        match kind {
            "record" | "error" | "enum" | "fixed" => self.compile_named(kind, obj, ns, logical),
            "array" => {
                let items = self.compile(obj.get("items").ok_or("array without items")?, ns)?;
                Ok(self.push(Node::Array(items), logical))
            }
            "map" => {
                let values = self.compile(obj.get("values").ok_or("map without values")?, ns)?;
                Ok(self.push(Node::Map(values), logical))
            }
            other => self.named_ref(other, ns),
        }
    }

    fn compile_named(
        &mut self,
        kind: &str,
        obj: &serde_json::Map<String, Json>,
        ns: Option<&str>,
        logical: bool,
    ) -> Result<usize, String> {
        let name = obj
            .get("name")
            .and_then(Json::as_str)
            .ok_or("named type without name")?;
        let own_ns = match obj.get("namespace") {
            Some(Json::String(s)) => Some(s.as_str()),
            _ => ns,
        };
        let full = full_name(name, own_ns);
        let id = self.push(Node::Null, logical);
        self.names.insert(full.clone(), id);
        self.nodes[id] = match kind {
            "enum" => Node::Enum(
                obj.get("symbols")
                    .and_then(Json::as_array)
                    .ok_or("enum without symbols")?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(Arc::from)
                            .ok_or("enum symbol is not a string")
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "fixed" => Node::Fixed(
                obj.get("size")
                    .and_then(Json::as_i64)
                    .ok_or("fixed without size")?,
            ),
            _ => {
                let inner = parent_namespace(&full);
                let mut fields = Vec::new();
                for field in obj
                    .get("fields")
                    .and_then(Json::as_array)
                    .ok_or("record without fields")?
                {
                    let fname = field
                        .get("name")
                        .and_then(Json::as_str)
                        .ok_or("field without name")?;
                    let ftype = field.get("type").ok_or("field without type")?;
                    fields.push((Arc::from(fname), self.compile(ftype, inner.as_deref())?));
                }
                Node::Record(fields)
            }
        };
        Ok(id)
    }

    /// True when materialising `id` would meet a logical type (or recursion we do not follow).
    fn has_logical(&self, id: usize, seen: &mut Vec<bool>) -> bool {
        if self.logical[id] {
            return true;
        }
        if seen[id] {
            return false;
        }
        seen[id] = true;
        match &self.nodes[id] {
            Node::Array(i) | Node::Map(i) => self.has_logical(*i, seen),
            Node::Union(bs) => bs.iter().any(|b| self.has_logical(*b, seen)),
            Node::Record(fs) => fs.iter().any(|(_, f)| self.has_logical(*f, seen)),
            _ => false,
        }
    }

    fn whole(&self, id: usize) -> Result<usize, String> {
        if self.has_logical(id, &mut vec![false; self.nodes.len()]) {
            return Err("a kept field has a logical type".into());
        }
        Ok(id)
    }

    fn project_fields(
        &self,
        fields: &[(Arc<str>, usize)],
        keep: &[(String, Keep)],
    ) -> Result<Vec<FieldAct>, String> {
        fields
            .iter()
            .map(
                |(name, id)| match keep.iter().find(|(k, _)| **k == **name) {
                    None => Ok(FieldAct::Skip(*id)),
                    Some((_, Keep::Whole)) => Ok(FieldAct::Read(name.clone(), self.whole(*id)?)),
                    Some((_, sub)) => Ok(FieldAct::Project(name.clone(), self.project(*id, sub)?)),
                },
            )
            .collect()
    }

    fn project(&self, id: usize, keep: &Keep) -> Result<ProjNode, String> {
        let Keep::Fields(fields) = keep else {
            return Ok(ProjNode::Whole(self.whole(id)?));
        };
        match &self.nodes[id] {
            Node::Record(rf) => Ok(ProjNode::Record(self.project_fields(rf, fields)?)),
            Node::Union(bs) => Ok(ProjNode::Union(
                bs.iter()
                    .map(|b| self.project(*b, keep))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Ok(ProjNode::Whole(self.whole(id)?)),
        }
    }
}

/// Parse a keep spec: `{"name": null | {nested spec}}`, as `surveys.fields_for` returns.
pub fn parse_keep(spec: &Json) -> Result<Keep, String> {
    match spec {
        Json::Null => Ok(Keep::Whole),
        Json::Object(obj) => Ok(Keep::Fields(
            obj.iter()
                .map(|(k, v)| Ok((k.clone(), parse_keep(v)?)))
                .collect::<Result<_, String>>()?,
        )),
        _ => Err("keep spec values must be null or objects".into()),
    }
}

/// Compile a writer schema (JSON text) and its projection onto `keep`.
pub fn compile(schema_json: &[u8], keep: &Keep) -> Result<Schema, String> {
    let json: Json = serde_json::from_slice(schema_json).map_err(|e| e.to_string())?;
    let mut c = Compiler {
        nodes: Vec::new(),
        names: HashMap::new(),
        logical: Vec::new(),
    };
    let top = c.compile(&json, None)?;
    let Node::Record(fields) = c.nodes[top].clone() else {
        return Err("writer schema is not a record".into());
    };
    let Keep::Fields(kept) = keep else {
        return Err("keep spec must list fields".into());
    };
    let top = c.project_fields(&fields, kept)?;
    Ok(Schema {
        skips: compile_all(&c.nodes),
        nodes: c.nodes,
        top,
    })
}
