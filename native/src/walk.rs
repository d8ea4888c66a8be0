//! Walking Avro binary along a compiled `Schema`: kept fields become `Value`s, the rest is skipped.

use crate::avro::{py_index, AvroError, AvroResult, Cursor};
use crate::schema::{FieldAct, Node, ProjNode, Schema};

/// A materialised Avro value, as fastavro would return it (records and maps become dicts).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Str(String),
    List(Vec<Value>),
    Dict(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

// Nesting deeper than this fails the record (fastavro would hit Python's recursion limit).
const MAX_DEPTH: u32 = 500;
// Caps on work for one record, so that a claimed count cannot make a record cost unbounded time.
const MAX_ITEMS: u64 = 1 << 20;
const MAX_STEPS: u64 = 1 << 26;

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
    pub fn read_top(&mut self, c: &mut Cursor) -> AvroResult<Vec<(String, Value)>> {
        self.items = 0;
        self.steps = 0;
        self.read_fields(c, &self.schema.top, 0)
    }

    fn tick(&mut self, depth: u32) -> AvroResult<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS || depth > MAX_DEPTH {
            return Err(AvroError(
                "RecursionError: record nests or repeats past the decoder's caps".into(),
            ));
        }
        Ok(())
    }

    fn read_fields(
        &mut self,
        c: &mut Cursor,
        acts: &[FieldAct],
        depth: u32,
    ) -> AvroResult<Vec<(String, Value)>> {
        let mut out = Vec::new();
        for act in acts {
            match act {
                FieldAct::Skip(id) => self.skip(c, *id, depth + 1)?,
                FieldAct::Read(name, id) => out.push((name.clone(), self.read(c, *id, depth + 1)?)),
                FieldAct::Project(name, p) => {
                    out.push((name.clone(), self.read_proj(c, p, depth + 1)?))
                }
            }
        }
        Ok(out)
    }

    fn read_proj(&mut self, c: &mut Cursor, p: &ProjNode, depth: u32) -> AvroResult<Value> {
        match p {
            ProjNode::Whole(id) => self.read(c, *id, depth),
            ProjNode::Record(acts) => Ok(Value::Dict(self.read_fields(c, acts, depth)?)),
            ProjNode::Union(branches) => {
                let i = py_index(c.read_long()?, branches.len(), "union")?;
                self.read_proj(c, &branches[i], depth + 1)
            }
        }
    }

    fn read(&mut self, c: &mut Cursor, id: usize, depth: u32) -> AvroResult<Value> {
        self.tick(depth)?;
        Ok(match &self.schema.nodes[id] {
            Node::Null => Value::Null,
            Node::Boolean => Value::Bool(c.read_bool()?),
            Node::Long => Value::Long(c.read_long()?),
            Node::Float => Value::Double(f64::from(c.read_f32()?)),
            Node::Double => Value::Double(c.read_f64()?),
            Node::Bytes => Value::Bytes(c.read_sized("bytes")?.to_vec()),
            Node::Str => Value::Str(c.read_string()?),
            Node::Fixed(n) => Value::Bytes(c.read_exact(*n, "a fixed")?.to_vec()),
            Node::Enum(symbols) => {
                Value::Str(symbols[py_index(c.read_long()?, symbols.len(), "enum")?].clone())
            }
            Node::Union(bs) => {
                let i = py_index(c.read_long()?, bs.len(), "union")?;
                self.read(c, bs[i], depth + 1)?
            }
            Node::Record(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for (name, f) in fields {
                    out.push((name.clone(), self.read(c, *f, depth + 1)?));
                }
                Value::Dict(out)
            }
            Node::Array(item) => {
                Value::List(self.read_blocks(c, depth, |w, c| w.read(c, *item, depth + 1))?)
            }
            Node::Map(value) => Value::Dict(self.read_blocks(c, depth, |w, c| {
                let key = c.read_string()?;
                Ok((key, w.read(c, *value, depth + 1)?))
            })?),
        })
    }

    fn read_blocks<T>(
        &mut self,
        c: &mut Cursor,
        depth: u32,
        mut item: impl FnMut(&mut Self, &mut Cursor) -> AvroResult<T>,
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
        self.tick(depth)?;
        match &self.schema.nodes[id] {
            Node::Null => {}
            Node::Boolean => c.skip_unchecked(1),
            Node::Long | Node::Enum(_) => {
                c.read_long()?;
            }
            Node::Float => c.skip_unchecked(4),
            Node::Double => c.skip_unchecked(8),
            Node::Bytes | Node::Str => {
                let n = c.read_long()?;
                c.skip_unchecked(n);
            }
            Node::Fixed(n) => c.skip_unchecked(*n),
            Node::Union(bs) => {
                let i = py_index(c.read_long()?, bs.len(), "union")?;
                self.skip(c, bs[i], depth + 1)?;
            }
            Node::Record(fields) => {
                for (_, f) in fields {
                    self.skip(c, *f, depth + 1)?;
                }
            }
            Node::Array(item) => self.skip_blocks(c, depth, &[*item])?,
            Node::Map(value) => self.skip_blocks(c, depth, &[usize::MAX, *value])?,
        }
        Ok(())
    }

    /// Skip array or map blocks; `parts` are the node ids of one item (usize::MAX: a map key).
    fn skip_blocks(&mut self, c: &mut Cursor, depth: u32, parts: &[usize]) -> AvroResult<()> {
        loop {
            let count = c.read_long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                let size = c.read_long()?;
                c.seek_relative(size);
                self.tick(depth)?;
                continue;
            }
            for _ in 0..(count as u64) {
                for &part in parts {
                    if part == usize::MAX {
                        let n = c.read_long()?;
                        c.skip_unchecked(n);
                        self.tick(depth)?;
                    } else {
                        self.skip(c, part, depth + 1)?;
                    }
                }
            }
        }
    }
}
