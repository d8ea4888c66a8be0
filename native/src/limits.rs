//! The caps of one packet's decode, as `rbc1000.alerts.limits.DecodeLimits` sets them.
//!
//! The Python wrapper passes its settings in (`NativeDecoder(max_block_bytes=..., ...)`), so
//! both paths stop at the same sizes with the same reason, `limit_exceeded`.

use crate::Fail;

const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Bytes a container block may decompress to.
    pub max_block_bytes: usize,
    /// Decompressed bytes of all of a message's blocks together.
    pub max_message_bytes: usize,
    /// Records a block may claim (and never more than its decompressed bytes, or 1).
    pub max_records_per_block: u64,
    /// Records and failed blocks of one message together.
    pub max_records_per_message: u64,
    /// Pixels of one FITS HDU.
    pub max_stamp_pixels: u64,
    /// Bytes a gzipped stamp may inflate to.
    pub max_stamp_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_block_bytes: 64 * MIB,
            max_message_bytes: 128 * MIB,
            max_records_per_block: 10_000,
            max_records_per_message: 10_000,
            max_stamp_pixels: 1 << 20,
            max_stamp_bytes: 16 * (1 << 20) + MIB,
        }
    }
}

/// The failure of a cap: its name and value in the detail, as the Python path words it.
pub fn exceeded(cap: &str, value: u64, what: &str) -> Fail {
    let setting = if cap == "max_stamp_bytes" {
        "max_stamp_pixels"
    } else {
        cap
    };
    Fail::new(
        "limit_exceeded",
        &format!(
            "{what}: cap {cap}={value} (setting decode_limits.{setting}, RBC_DECODE_LIMITS__{})",
            setting.to_uppercase()
        ),
    )
}
