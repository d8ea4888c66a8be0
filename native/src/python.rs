//! The Python binding: `rbc1000._native.NativeDecoder`.

use std::sync::RwLock;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple};

use crate::decode::{decode_packet, Packet, Plan, Plans, Record};
use crate::inflate::Inflater;
use crate::preprocess::TRIPLET;
use crate::walk::Value;

/// Decodes batches of packets with plans registered by the Python wrapper.
///
/// `decode_batch` returns `(triplets, packets)`: a bytearray of float32 `[rows, 3, 63, 63]`
/// and one entry per packet: `("records", ([record, ...], plan_tag))`, `("need_json", schema_json)`,
/// `("need_id", schema_id)` or `("python", None)`. A record is `(None, fields, row,
/// reason, detail)` when read (row is -1 and reason/detail say why when it has no
/// triplet) or `(reason, detail)` when not.
#[pyclass(frozen, module = "rbc1000._native")]
struct NativeDecoder {
    plans: RwLock<Plans>,
}

#[pymethods]
impl NativeDecoder {
    #[new]
    fn new() -> Self {
        NativeDecoder {
            plans: RwLock::new(Plans::default()),
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

    /// Decode packets (and build triplets when asked), releasing the GIL while doing so.
    #[pyo3(signature = (packets, triplets=true))]
    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        packets: Vec<Bound<'py, PyBytes>>,
        triplets: bool,
    ) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyList>)> {
        let slices: Vec<&[u8]> = packets.iter().map(|p| p.as_bytes()).collect();
        let decoded: Vec<Packet> = py.allow_threads(|| {
            let plans = self.plans.read().expect("plan lock");
            let mut inflater = Inflater::default();
            slices
                .iter()
                .map(|d| decode_packet(d, &plans, &mut inflater, triplets))
                .collect()
        });
        let rows: Vec<&[f32]> = decoded
            .iter()
            .flat_map(|p| match p {
                Packet::Records(records, _) => records.as_slice(),
                _ => &[],
            })
            .filter_map(|r| match r {
                Record::Ok { triplet: Ok(t), .. } if !t.is_empty() => Some(t.as_slice()),
                _ => None,
            })
            .collect();
        let buffer = PyByteArray::new_with(py, rows.len() * TRIPLET * 4, |buf| {
            for (row, out) in rows.iter().zip(buf.chunks_exact_mut(TRIPLET * 4)) {
                for (v, b) in row.iter().zip(out.chunks_exact_mut(4)) {
                    b.copy_from_slice(&v.to_ne_bytes());
                }
            }
            Ok(())
        })?;
        let mut next_row = 0i64;
        let out = PyList::empty(py);
        for packet in &decoded {
            out.append(packet_to_py(py, packet, &mut next_row)?)?;
        }
        Ok((buffer, out))
    }
}

fn packet_to_py<'py>(
    py: Python<'py>,
    packet: &Packet,
    next_row: &mut i64,
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
                list.append(record_to_py(py, record, next_row)?)?;
            }
            ("records", (list, *tag)).into_pyobject(py)
        }
    }
}

fn record_to_py<'py>(
    py: Python<'py>,
    record: &Record,
    next_row: &mut i64,
) -> PyResult<Bound<'py, PyTuple>> {
    match record {
        Record::Failed(fail) => (fail.reason, fail.detail.as_str()).into_pyobject(py),
        Record::Ok { fields, triplet } => {
            let dict = PyDict::new(py);
            for (k, v) in fields {
                dict.set_item(k, value_to_py(py, v)?)?;
            }
            let (row, reason, detail) = match triplet {
                Ok(t) if !t.is_empty() => {
                    *next_row += 1;
                    (*next_row - 1, None, None)
                }
                Ok(_) => (-1, None, None),
                Err(fail) => (-1, Some(fail.reason), Some(fail.detail.as_str())),
            };
            (py.None(), dict, row, reason, detail).into_pyobject(py)
        }
    }
}

fn value_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Long(n) => n.into_pyobject(py)?.into_any(),
        Value::Double(x) => x.into_pyobject(py)?.into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Dict(items) => {
            let dict = PyDict::new(py);
            for (k, v) in items {
                dict.set_item(k, value_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeDecoder>()?;
    m.add("TRIPLET_FLOATS", TRIPLET)?;
    Ok(())
}
