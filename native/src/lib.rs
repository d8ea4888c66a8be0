//! rbc1000's compiled decode core: alert packets to projected fields and `rbc-pp-1` triplets.
//!
//! The Python path (`rbc1000.alerts.decoding` and `rbc1000.model.preprocessing`) is the
//! reference: every module here mirrors one of it, failure reasons included. Schema-level
//! decisions (is this an alert schema, which survey, which fields) stay in Python, which
//! registers one compiled plan per writer schema; this crate only walks bytes.

pub mod asinh;
pub mod avro;
pub mod container;
pub mod decode;
pub mod fits;
pub mod fits_cards;
pub mod inflate;
pub mod limits;
pub mod preprocess;
pub mod schema;
pub mod skip;
pub mod walk;

#[cfg(feature = "python")]
mod python;

/// A typed failure: `reason` is one of the Python path's reason strings.
#[derive(Debug, Clone, PartialEq)]
pub struct Fail {
    pub reason: &'static str,
    pub detail: String,
}

impl Fail {
    pub fn new(reason: &'static str, detail: &str) -> Self {
        Fail {
            reason,
            detail: detail.to_owned(),
        }
    }
}

/// Compile a plan for a writer schema from its JSON text and a keep spec (JSON, as
/// `rbc1000.alerts.surveys.fields_for` returns); Python when this crate cannot read it.
pub fn compile_plan(schema_json: &[u8], keep_json: &str, tag: u32) -> decode::Plan {
    let keep = serde_json::from_str(keep_json)
        .map_err(|e| e.to_string())
        .and_then(|k| schema::parse_keep(&k));
    match keep.and_then(|keep| schema::compile(schema_json, &keep)) {
        Ok(schema) => decode::Plan::Native(schema, tag),
        Err(_) => decode::Plan::Python,
    }
}
