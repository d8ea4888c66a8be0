//! Skipping unwanted Avro values by precompiled plans (most of a packet: ZTF's `prv_candidates`).
//!
//! A plan is the schema node tree with the lookups taken out: records become sequences of
//! operations, runs of fixed-size values one `Bytes` skip, and named types that refer to
//! themselves a `Node` reference. Skipping has the semantics of `avro.rs` (a skipped value
//! is a `BytesIO.read` that stops at the end; block byte sizes seek), and the same caps on
//! nesting and work per record as the walker.

use crate::avro::{eof, index_in, py_index, AvroError, AvroResult, Cursor};
use crate::schema::Node;

/// How to skip one value.
#[derive(Debug, Clone)]
pub enum SkipOp {
    /// A fixed number of bytes (several fixed-size values merged; negative: all that is left).
    Bytes(i64),
    Long,
    /// A length-prefixed string or bytes.
    Sized,
    Union(Box<[SkipOp]>),
    /// The fields of a record, in order.
    Seq(Box<[SkipOp]>),
    Array(Box<SkipOp>),
    /// A map: string keys, then this value op.
    Map(Box<SkipOp>),
    /// The plan of a node that contains itself (recursive named types).
    Node(usize),
}

/// Plans of at most this many operations are copied into their parents; bigger ones are
/// referenced (`SkipOp::Node`), so that a schema reusing a named type many times, or nesting
/// reuse, cannot make its plans grow exponentially.
const INLINE_OPS: usize = 32;

/// Skip plans of every node of a schema, indexed like `Schema::nodes`.
pub fn compile_all(nodes: &[Node]) -> Vec<SkipOp> {
    let mut compiler = Compiler {
        nodes,
        done: vec![None; nodes.len()],
        open: Vec::new(),
    };
    (0..nodes.len()).map(|id| compiler.plan(id)).collect()
}

struct Compiler<'n> {
    nodes: &'n [Node],
    done: Vec<Option<SkipOp>>,
    open: Vec<usize>,
}

impl Compiler<'_> {
    fn plan(&mut self, id: usize) -> SkipOp {
        if let Some(op) = &self.done[id] {
            return op.clone();
        }
        self.open.push(id);
        let op = self.compile(id);
        self.open.pop();
        self.done[id] = Some(op.clone());
        op
    }

    /// What a parent holds for a child: its plan when small, else a reference to it.
    fn child(&mut self, id: usize) -> SkipOp {
        if self.open.contains(&id) {
            return SkipOp::Node(id);
        }
        let op = self.plan(id);
        if size(&op) <= INLINE_OPS {
            op
        } else {
            SkipOp::Node(id)
        }
    }

    fn compile(&mut self, id: usize) -> SkipOp {
        match &self.nodes[id] {
            Node::Null => SkipOp::Bytes(0),
            Node::Boolean => SkipOp::Bytes(1),
            Node::Float => SkipOp::Bytes(4),
            Node::Double => SkipOp::Bytes(8),
            Node::Fixed(n) => SkipOp::Bytes(*n),
            Node::Long | Node::Enum(_) => SkipOp::Long,
            Node::Bytes | Node::Str => SkipOp::Sized,
            Node::Union(branches) => {
                SkipOp::Union(branches.iter().map(|&b| self.child(b)).collect())
            }
            Node::Record(fields) => {
                let mut ops: Vec<SkipOp> = Vec::with_capacity(fields.len());
                for &(_, f) in fields {
                    match (ops.last_mut(), self.child(f)) {
                        (Some(SkipOp::Bytes(a)), SkipOp::Bytes(b)) if *a >= 0 && b >= 0 => *a += b,
                        (_, op) => ops.push(op),
                    }
                }
                SkipOp::Seq(ops.into())
            }
            Node::Array(item) => SkipOp::Array(Box::new(self.child(*item))),
            Node::Map(value) => SkipOp::Map(Box::new(self.child(*value))),
        }
    }
}

/// The number of operations in a plan (references count one).
fn size(op: &SkipOp) -> usize {
    match op {
        SkipOp::Union(ops) | SkipOp::Seq(ops) => 1 + ops.iter().map(size).sum::<usize>(),
        SkipOp::Array(op) | SkipOp::Map(op) => 1 + size(op),
        _ => 1,
    }
}

// Nesting deeper than this fails the record (fastavro would hit Python's recursion limit).
pub const MAX_DEPTH: u32 = 500;
// Caps on work for one record, so that a claimed count cannot make a record cost unbounded time.
pub const MAX_STEPS: u64 = 1 << 26;

pub fn caps_error() -> AvroError {
    AvroError("RecursionError: record nests or repeats past the decoder's caps".into())
}

/// Why a skip stopped; small and `Copy`, so the hot loop returns it in registers.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The data ended inside a long.
    Eof,
    /// A union index out of range: (index, branches).
    Index(i64, usize),
    Caps,
}

impl From<Stop> for AvroError {
    fn from(stop: Stop) -> AvroError {
        match stop {
            Stop::Eof => eof("a long"),
            Stop::Index(index, len) => py_index(index, len, "union").unwrap_err(),
            Stop::Caps => caps_error(),
        }
    }
}

#[inline(always)]
fn long(c: &mut Cursor) -> Result<i64, Stop> {
    c.long().ok_or(Stop::Eof)
}

/// Runs skip plans over a cursor, counting steps against `MAX_STEPS`.
pub struct Skipper<'p> {
    pub plans: &'p [SkipOp],
    pub steps: u64,
}

impl Skipper<'_> {
    /// Skip one value by its plan.
    pub fn skip(&mut self, c: &mut Cursor, op: &SkipOp, depth: u32) -> AvroResult<()> {
        self.op(c, op, depth).map_err(AvroError::from)
    }

    fn tick(&mut self, n: u64, depth: u32) -> Result<(), Stop> {
        self.steps += n;
        if self.steps > MAX_STEPS || depth > MAX_DEPTH {
            return Err(Stop::Caps);
        }
        Ok(())
    }

    fn op(&mut self, c: &mut Cursor, op: &SkipOp, depth: u32) -> Result<(), Stop> {
        match op {
            SkipOp::Bytes(n) => c.skip_unchecked(*n),
            SkipOp::Long => {
                long(c)?;
            }
            SkipOp::Sized => {
                let n = long(c)?;
                c.skip_unchecked(n);
            }
            SkipOp::Union(branches) => {
                let index = long(c)?;
                let i =
                    index_in(index, branches.len()).ok_or(Stop::Index(index, branches.len()))?;
                match &branches[i] {
                    // The common optional field: a null or a fixed-size value.
                    SkipOp::Bytes(n) => c.skip_unchecked(*n),
                    branch => self.op(c, branch, depth + 1)?,
                }
            }
            SkipOp::Seq(ops) => {
                self.tick(ops.len() as u64, depth)?;
                for op in ops.iter() {
                    self.op(c, op, depth + 1)?;
                }
            }
            SkipOp::Array(item) => self.blocks(c, depth, false, item)?,
            SkipOp::Map(value) => self.blocks(c, depth, true, value)?,
            SkipOp::Node(id) => {
                self.tick(1, depth)?;
                let plans = self.plans;
                self.op(c, &plans[*id], depth + 1)?;
            }
        }
        Ok(())
    }

    /// Array or map blocks (`keyed`: map items start with a string key).
    fn blocks(
        &mut self,
        c: &mut Cursor,
        depth: u32,
        keyed: bool,
        item: &SkipOp,
    ) -> Result<(), Stop> {
        loop {
            let count = long(c)?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                let size = long(c)?;
                c.seek_relative(size);
                self.tick(1, depth)?;
                continue;
            }
            for _ in 0..(count as u64) {
                self.tick(1, depth)?;
                if keyed {
                    let n = long(c)?;
                    c.skip_unchecked(n);
                }
                self.op(c, item, depth + 1)?;
            }
        }
    }
}
