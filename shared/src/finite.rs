//! Measurements in protocol messages that must stay finite numbers. JSON has no NaN or
//! infinity: serde_json writes them as `null`, and an `f32` read from a number beyond its range
//! (`1e39`) becomes infinity. Either way one odd reading would make a whole message fail to
//! parse, or get stored and then served as `null` where the API promises a number. These read
//! such a value as 0 ("unknown") and never write one.

use serde::{Deserialize, Deserializer, Serializer};

/// For `#[serde(with = "crate::finite::f32_or_zero")]`.
pub mod f32_or_zero {
    use super::*;

    pub fn serialize<S: Serializer>(value: &f32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f32(if value.is_finite() { *value } else { 0.0 })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        // Read as f64 (any JSON number fits) and narrow, as serde itself does for f32.
        let wide = Option::<f64>::deserialize(d)?;
        Ok(wide.map(|v| v as f32).filter(|v| v.is_finite()).unwrap_or(0.0))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Reading {
        #[serde(default, with = "super::f32_or_zero")]
        cpu: f32,
    }

    fn read(json: &str) -> f32 {
        serde_json::from_str::<Reading>(json).expect("parses").cpu
    }

    #[test]
    fn out_of_range_and_null_read_as_zero() {
        assert_eq!(read(r#"{"cpu": 12.5}"#), 12.5);
        assert_eq!(read(r#"{"cpu": 7}"#), 7.0);
        assert_eq!(read(r#"{"cpu": -0.25}"#), -0.25);
        assert_eq!(read(r#"{"cpu": 1e39}"#), 0.0);
        assert_eq!(read(r#"{"cpu": -1e300}"#), 0.0);
        assert_eq!(read(r#"{"cpu": null}"#), 0.0);
        assert_eq!(read("{}"), 0.0);
        assert!(serde_json::from_str::<Reading>(r#"{"cpu": "12"}"#).is_err(), "not a number at all");
    }

    #[test]
    fn non_finite_values_are_written_as_zero() {
        for cpu in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(serde_json::to_string(&Reading { cpu }).expect("json"), r#"{"cpu":0.0}"#);
        }
        assert_eq!(serde_json::to_string(&Reading { cpu: 3.5 }).expect("json"), r#"{"cpu":3.5}"#);
    }
}
