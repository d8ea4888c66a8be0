//! The Python binding: `rbc1000._native.NativeDecoder`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySlice, PyString, PyTuple};

use crate::decode::{decode_packet_limited, Packet, Plan, Plans, Record, Workspace};
use crate::limits::Limits;
use crate::preprocess::{Version, SENTINEL_ABS, TRIPLET};
use crate::walk::{Name, Value};

/// Packets decoded per release of the GIL.
const CHUNK: usize = 16;

/// Decodes batches of packets with plans registered by the Python wrapper.
///
/// `decode_batch` returns `(triplets, packets)`: the float32 `[rows, 3, 63, 63]` array that
/// its `alloc` gave, and one entry per packet: `("records", ([record, ...], plan_tag))`,
/// `("need_json", schema_json)`, `("need_id", schema_id)` or `("python", None)`. A record is
/// `(None, fields, row, reason, detail)` when read (row is -1 and reason/detail say why
/// when it has no triplet) or `(reason, detail)` when not.
#[pyclass(frozen, module = "rbc1000._native")]
struct NativeDecoder {
    plans: RwLock<Plans>,
    /// Buffers kept between calls (one per concurrent call).
    workspaces: Mutex<Vec<Workspace>>,
    names: Names,
    limits: Limits,
}

/// The Python strings of the schemas' field names, made once: keyed by the address of the
/// name's `Arc<str>`, which the entry holds, so that the address cannot be reused meanwhile.
#[derive(Default)]
struct Names(Mutex<HashMap<usize, (Arc<str>, Py<PyString>)>>);

impl Names {
    fn get<'py>(&self, py: Python<'py>, name: &Name) -> Bound<'py, PyString> {
        let Name::Field(field) = name else {
            return PyString::new(py, name.as_str());
        };
        let mut names = self.0.lock().expect("names lock");
        let entry = names
            .entry(Arc::as_ptr(field).cast::<u8>() as usize)
            .or_insert_with(|| (field.clone(), PyString::new(py, field).unbind()));
        entry.1.bind(py).clone()
    }
}

#[pymethods]
impl NativeDecoder {
    /// The caps are `rbc1000.alerts.limits.DecodeLimits`' values (its defaults when omitted).
    #[new]
    #[pyo3(signature = (
        max_block_bytes=None, max_message_bytes=None, max_records_per_block=None,
        max_records_per_message=None, max_stamp_pixels=None, max_stamp_bytes=None
    ))]
    fn new(
        max_block_bytes: Option<usize>,
        max_message_bytes: Option<usize>,
        max_records_per_block: Option<u64>,
        max_records_per_message: Option<u64>,
        max_stamp_pixels: Option<u64>,
        max_stamp_bytes: Option<usize>,
    ) -> Self {
        let d = Limits::default();
        NativeDecoder {
            plans: RwLock::new(Plans::default()),
            workspaces: Mutex::new(Vec::new()),
            names: Names::default(),
            limits: Limits {
                max_block_bytes: max_block_bytes.unwrap_or(d.max_block_bytes),
                max_message_bytes: max_message_bytes.unwrap_or(d.max_message_bytes),
                max_records_per_block: max_records_per_block.unwrap_or(d.max_records_per_block),
                max_records_per_message: max_records_per_message
                    .unwrap_or(d.max_records_per_message),
                max_stamp_pixels: max_stamp_pixels.unwrap_or(d.max_stamp_pixels),
                max_stamp_bytes: max_stamp_bytes.unwrap_or(d.max_stamp_bytes),
            },
        }
    }

    /// Register the plan of a container's writer schema; keep_json None means the Python path.
    #[pyo3(signature = (schema_json, keep_json, tag))]
    fn add_json_plan(&self, schema_json: &[u8], keep_json: Option<&str>, tag: u32) -> bool {
        let plan = keep_json.map_or(Plan::Python, |keep| {
            crate::compile_plan(schema_json, keep, tag)
        });
        let native = matches!(plan, Plan::Native(..));
        self.plans
            .write()
            .expect("plan lock")
            .add_json(schema_json, plan);
        native
    }

    /// Register the plan of a Confluent schema id (`schema_json`: the inlined writer schema).
    #[pyo3(signature = (schema_id, schema_json, keep_json, tag))]
    fn add_id_plan(
        &self,
        schema_id: u32,
        schema_json: &[u8],
        keep_json: Option<&str>,
        tag: u32,
    ) -> bool {
        let plan = keep_json.map_or(Plan::Python, |keep| {
            crate::compile_plan(schema_json, keep, tag)
        });
        let native = matches!(plan, Plan::Native(..));
        self.plans
            .write()
            .expect("plan lock")
            .add_id(schema_id, plan);
        native
    }

    /// Decode packets, releasing the GIL while doing so; with `alloc`, build the triplets of
    /// preprocessing `version` (one of `PREPROCESSING_VERSIONS`) too.
    ///
    /// `alloc(rows)` must return a writable, C-contiguous float32 array of `rows` triplets
    /// (`rows * 3 * 63 * 63` values). It is called once with the number of packets, and once
    /// more with the number of triplets when the packets held more; the first item returned
    /// is the array of the batch's triplets (None without `alloc`).
    #[pyo3(signature = (packets, alloc=None, version="rbc-pp-1"))]
    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        packets: Vec<Bound<'py, PyBytes>>,
        alloc: Option<Bound<'py, PyAny>>,
        version: &str,
    ) -> PyResult<(Option<Bound<'py, PyAny>>, Bound<'py, PyList>)> {
        let Some(version) = Version::from_name(version) else {
            return Err(PyValueError::new_err(format!(
                "preprocessing {version:?} is not implemented here; see PREPROCESSING_VERSIONS"
            )));
        };
        let slices: Vec<&[u8]> = packets.iter().map(|p| p.as_bytes()).collect();
        let mut ws = self
            .workspaces
            .lock()
            .expect("workspace lock")
            .pop()
            .unwrap_or_default();
        let mut rows = match &alloc {
            Some(alloc) => Some(RowSink::new(alloc.call1((slices.len(),))?)?),
            None => None,
        };
        let triplets = rows.as_ref().map(|_| version);
        let out = PyList::empty(py);
        // A few packets at a time: their stamps and triplets are still in the cache when they
        // are copied into Python objects and into the array.
        for chunk in slices.chunks(CHUNK) {
            ws.rows.clear();
            let decoded: Vec<Packet> = py.allow_threads(|| {
                let plans = self.plans.read().expect("plan lock");
                chunk
                    .iter()
                    .map(|d| decode_packet_limited(d, &plans, &mut ws, triplets, &self.limits))
                    .collect()
            });
            let base = rows.as_ref().map_or(0, |r| r.count);
            for packet in &decoded {
                out.append(packet_to_py(py, packet, &self.names, base)?)?;
            }
            if let Some(rows) = &mut rows {
                rows.push(py, ws.rows.as_slice())?;
            }
        }
        self.workspaces.lock().expect("workspace lock").push(ws);
        let array = match (rows, alloc) {
            (Some(rows), Some(alloc)) => Some(rows.finish(py, &alloc)?),
            _ => None,
        };
        Ok((array, out))
    }
}

/// Triplet rows on their way into the array `alloc` gave; those past its end wait in `spill`.
struct RowSink<'py> {
    array: Bound<'py, PyAny>,
    capacity: usize,
    count: usize,
    spill: Vec<f32>,
}

impl<'py> RowSink<'py> {
    fn new(array: Bound<'py, PyAny>) -> PyResult<Self> {
        let capacity = PyBuffer::<f32>::get(&array)?.item_count() / TRIPLET;
        Ok(RowSink {
            array,
            capacity,
            count: 0,
            spill: Vec::new(),
        })
    }

    fn push(&mut self, py: Python<'py>, rows: &[f32]) -> PyResult<()> {
        let n = rows.len() / TRIPLET;
        let fit = n.min(self.capacity.saturating_sub(self.count));
        if fit > 0 {
            let (start, end) = (self.count as isize, (self.count + fit) as isize);
            let view = self.array.get_item(PySlice::new(py, start, end, 1))?;
            PyBuffer::<f32>::get(&view)?.copy_from_slice(py, &rows[..fit * TRIPLET])?;
        }
        self.spill.extend_from_slice(&rows[fit * TRIPLET..]);
        self.count += n;
        Ok(())
    }

    /// The array of exactly the rows pushed: a view of the first one, or a new one from
    /// `alloc` when some did not fit.
    fn finish(self, py: Python<'py>, alloc: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if self.spill.is_empty() {
            return self
                .array
                .get_item(PySlice::new(py, 0, self.count as isize, 1));
        }
        let mut all = PyBuffer::<f32>::get(&self.array)?.to_vec(py)?;
        all.extend_from_slice(&self.spill);
        let array = alloc.call1((self.count,))?;
        PyBuffer::<f32>::get(&array)?.copy_from_slice(py, &all)?;
        Ok(array)
    }
}

/// A packet's entry; its records' rows are numbered from `base`.
fn packet_to_py<'py>(
    py: Python<'py>,
    packet: &Packet,
    names: &Names,
    base: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    match packet {
        Packet::NeedJson(json) => PyTuple::new(
            py,
            [
                ("need_json").into_pyobject(py)?.into_any(),
                PyBytes::new(py, json).into_any(),
            ],
        ),
        Packet::NeedId(id) => PyTuple::new(
            py,
            [
                ("need_id").into_pyobject(py)?.into_any(),
                id.into_pyobject(py)?.into_any(),
            ],
        ),
        Packet::Python => PyTuple::new(
            py,
            [
                ("python").into_pyobject(py)?.into_any(),
                py.None().into_bound(py),
            ],
        ),
        Packet::Records(records, tag) => {
            let list = PyList::empty(py);
            for record in records {
                list.append(record_to_py(py, record, names, base)?)?;
            }
            ("records", (list, *tag)).into_pyobject(py)
        }
    }
}

fn record_to_py<'py>(
    py: Python<'py>,
    record: &Record,
    names: &Names,
    base: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    match record {
        Record::Failed(fail) => (fail.reason, fail.detail.as_str()).into_pyobject(py),
        Record::Ok { fields, triplet } => {
            let dict = PyDict::new(py);
            for (k, v) in fields {
                dict.set_item(names.get(py, k), value_to_py(py, v, names)?)?;
            }
            let (row, reason, detail) = match triplet {
                Ok(Some(row)) => ((base + *row) as i64, None, None),
                Ok(None) => (-1, None, None),
                Err(fail) => (-1, Some(fail.reason), Some(fail.detail.as_str())),
            };
            (py.None(), dict, row, reason, detail).into_pyobject(py)
        }
    }
}

fn value_to_py<'py>(py: Python<'py>, value: &Value, names: &Names) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Long(n) => n.into_pyobject(py)?.into_any(),
        Value::Double(x) => x.into_pyobject(py)?.into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Symbol(s) => PyString::new(py, s).into_any(),
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item, names)?)?;
            }
            list.into_any()
        }
        Value::Dict(items) => {
            let dict = PyDict::new(py);
            for (k, v) in items {
                dict.set_item(names.get(py, k), value_to_py(py, v, names)?)?;
            }
            dict.into_any()
        }
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeDecoder>()?;
    m.add("TRIPLET_FLOATS", TRIPLET)?;
    m.add(
        "PREPROCESSING_VERSIONS",
        PyTuple::new(m.py(), Version::NAMES)?,
    )?;
    m.add("SENTINEL_ABS", f64::from(SENTINEL_ABS))?;
    Ok(())
}
