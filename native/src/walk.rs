//! Walking Avro binary along a compiled `Schema`: kept fields become `Value`s, the rest is skipped.
//!
//! Values borrow bytes and strings from the data they were read from (the stamps are never
//! copied on the way to the preprocessing); names are shared with the schema.

use std::borrow::Cow;
use std::sync::Arc;

use crate::avro::{py_index, AvroError, AvroResult, Cursor};
use crate::schema::{FieldAct, Node, ProjNode, Schema};
use crate::skip::{caps_error, Skipper, MAX_DEPTH, MAX_STEPS};

/// A materialised Avro value, as fastavro would return it (records and maps become dicts).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Bytes(Cow<'a, [u8]>),
    Str(Cow<'a, str>),
    /// An enum symbol, shared with the schema.
    Symbol(Arc<str>),
    List(Vec<Value<'a>>),
    Dict(Vec<(Name<'a>, Value<'a>)>),
}

/// A record field name (shared with the schema) or a map key (read from the data).
#[derive(Debug, Clone, PartialEq)]
pub enum Name<'a> {
    Field(Arc<str>),
    Key(Cow<'a, str>),
}

impl Name<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Name::Field(name) => name,
            Name::Key(key) => key,
        }
    }

    pub fn into_owned(self) -> Name<'static> {
        match self {
            Name::Field(name) => Name::Field(name),
            Name::Key(key) => Name::Key(Cow::Owned(key.into_owned())),
        }
    }
}

/// The projected top-level fields of one record, in writer order.
pub type Fields<'a> = Vec<(Name<'a>, Value<'a>)>;

impl<'a> Value<'a> {
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value with its borrowed bytes and strings copied (for data about to be freed).
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Long(n) => Value::Long(n),
            Value::Double(x) => Value::Double(x),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Symbol(s) => Value::Symbol(s),
            Value::List(items) => Value::List(items.into_iter().map(Value::into_owned).collect()),
            Value::Dict(items) => Value::Dict(
                items
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

// Items in one record's arrays and maps at most (MAX_DEPTH and MAX_STEPS: see `skip`).
const MAX_ITEMS: u64 = 1 << 20;

pub struct Walker<'s> {
    schema: &'s Schema,
    items: u64,
    steps: u64,
}

impl<'s> Walker<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        Walker {
            schema,
            items: 0,
            steps: 0,
        }
    }

    /// Read one projected top-level record: its kept fields in writer order.
    pub fn read_top<'a>(&mut self, c: &mut Cursor<'a>) -> AvroResult<Fields<'a>> {
        self.items = 0;
        self.steps = 0;
        self.read_fields(c, &self.schema.top, 0)
    }

    fn tick(&mut self, depth: u32) -> AvroResult<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS || depth > MAX_DEPTH {
            return Err(caps_error());
        }
        Ok(())
    }

    fn read_fields<'a>(
        &mut self,
        c: &mut Cursor<'a>,
        acts: &[FieldAct],
        depth: u32,
    ) -> AvroResult<Fields<'a>> {
        let kept = acts
            .iter()
            .filter(|a| !matches!(a, FieldAct::Skip(_)))
            .count();
        let mut out = Vec::with_capacity(kept);
        for act in acts {
            match act {
                FieldAct::Skip(id) => self.skip(c, *id, depth + 1)?,
                FieldAct::Read(name, id) => {
                    out.push((Name::Field(name.clone()), self.read(c, *id, depth + 1)?))
                }
                FieldAct::Project(name, p) => {
                    out.push((Name::Field(name.clone()), self.read_proj(c, p, depth + 1)?))
                }
            }
        }
        Ok(out)
    }

    fn read_proj<'a>(
        &mut self,
        c: &mut Cursor<'a>,
        p: &ProjNode,
        depth: u32,
    ) -> AvroResult<Value<'a>> {
        match p {
            ProjNode::Whole(id) => self.read(c, *id, depth),
            ProjNode::Record(acts) => Ok(Value::Dict(self.read_fields(c, acts, depth)?)),
            ProjNode::Union(branches) => {
                let i = py_index(c.read_long()?, branches.len(), "union")?;
                self.read_proj(c, &branches[i], depth + 1)
            }
        }
    }

    fn read<'a>(&mut self, c: &mut Cursor<'a>, id: usize, depth: u32) -> AvroResult<Value<'a>> {
        self.tick(depth)?;
        Ok(match &self.schema.nodes[id] {
            Node::Null => Value::Null,
            Node::Boolean => Value::Bool(c.read_bool()?),
            Node::Long => Value::Long(c.read_long()?),
            Node::Float => Value::Double(f64::from(c.read_f32()?)),
            Node::Double => Value::Double(c.read_f64()?),
            Node::Bytes => Value::Bytes(Cow::Borrowed(c.read_sized("bytes")?)),
            Node::Str => Value::Str(Cow::Borrowed(c.read_string()?)),
            Node::Fixed(n) => Value::Bytes(Cow::Borrowed(c.read_exact(*n, "a fixed")?)),
            Node::Enum(symbols) => {
                Value::Symbol(symbols[py_index(c.read_long()?, symbols.len(), "enum")?].clone())
            }
            Node::Union(bs) => {
                let i = py_index(c.read_long()?, bs.len(), "union")?;
                self.read(c, bs[i], depth + 1)?
            }
            Node::Record(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for (name, f) in fields {
                    out.push((Name::Field(name.clone()), self.read(c, *f, depth + 1)?));
                }
                Value::Dict(out)
            }
            Node::Array(item) => {
                Value::List(self.read_blocks(c, depth, |w, c| w.read(c, *item, depth + 1))?)
            }
            Node::Map(value) => Value::Dict(self.read_blocks(c, depth, |w, c| {
                let key = Name::Key(Cow::Borrowed(c.read_string()?));
                Ok((key, w.read(c, *value, depth + 1)?))
            })?),
        })
    }

    fn read_blocks<'a, T>(
        &mut self,
        c: &mut Cursor<'a>,
        depth: u32,
        mut item: impl FnMut(&mut Self, &mut Cursor<'a>) -> AvroResult<T>,
    ) -> AvroResult<Vec<T>> {
        let mut out = Vec::new();
        loop {
            let mut count = c.read_long()?;
            if count == 0 {
                return Ok(out);
            }
            if count < 0 {
                c.read_long()?; // the block's byte size, unused when reading
                count = count.wrapping_neg();
            }
            for _ in 0..(count as u64) {
                self.items += 1;
                self.tick(depth)?;
                if self.items > MAX_ITEMS {
                    return Err(AvroError(
                        "MemoryError: too many items in one record".into(),
                    ));
                }
                out.push(item(self, c)?);
            }
        }
    }

    fn skip(&mut self, c: &mut Cursor, id: usize, depth: u32) -> AvroResult<()> {
        let plans = &self.schema.skips;
        let mut skipper = Skipper {
            plans,
            steps: self.steps,
        };
        let done = skipper.skip(c, &plans[id], depth);
        self.steps = skipper.steps;
        done
    }
}
