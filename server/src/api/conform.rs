//! Checks a JSON request body against the schema its type publishes in the OpenAPI document,
//! before poem-openapi parses it. poem-openapi reads `false` or `42` into a `String` field and
//! `null` into an optional one; this refuses any value whose JSON type is not the declared one,
//! `null` where the schema does not allow it, and anything breaking a constraint the spec
//! states (lengths, patterns, enums, bounds, item counts, required properties). So the server
//! refuses exactly what the spec forbids, and the spec cannot promise a check the server skips.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use regex::Regex;
use serde_json::Value;

/// Nesting followed at most; our bodies are a few levels deep and never recursive.
const MAX_DEPTH: usize = 16;

/// Why a value does not conform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: `name`, `machine.hostname`, `commands[2]`; empty for the body itself.
    pub path: String,
    /// The value has the wrong shape (JSON type, `null`, a missing property), as opposed to
    /// breaking a constraint on a value of the right type.
    pub wrong_type: bool,
    pub message: String,
}

impl Violation {
    /// The top-level field the problem is in (empty for the body itself).
    pub fn field(&self) -> &str {
        self.path.split(['.', '[']).next().unwrap_or("")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "the body {}", self.message)
        } else {
            write!(f, "`{}` {}", self.path, self.message)
        }
    }
}

/// Checks `value` against `schema`, resolving references in `registry`.
pub fn check(registry: &Registry, schema: &MetaSchemaRef, value: &Value) -> Result<(), Violation> {
    Walk { registry, path: String::new(), depth: 0 }.schema_ref(schema, value)
}

struct Walk<'r> {
    registry: &'r Registry,
    path: String,
    depth: usize,
}

impl Walk<'_> {
    fn schema_ref(&mut self, schema: &MetaSchemaRef, value: &Value) -> Result<(), Violation> {
        match schema {
            MetaSchemaRef::Inline(s) => self.schema(s, value),
            MetaSchemaRef::Reference(name) => match self.registry.schemas.get(name) {
                Some(s) => self.schema(s, value),
                None => Ok(()),
            },
        }
    }

    fn fail(&self, wrong_type: bool, message: String) -> Result<(), Violation> {
        Err(Violation { path: self.path.clone(), wrong_type, message })
    }

    fn schema(&mut self, s: &MetaSchema, value: &Value) -> Result<(), Violation> {
        if self.depth > MAX_DEPTH || (value.is_null() && s.nullable) {
            return Ok(());
        }
        for part in &s.all_of {
            self.schema_ref(part, value)?;
        }
        if !s.one_of.is_empty() {
            self.alternatives(&s.one_of, value, true)?;
        }
        if !s.any_of.is_empty() {
            self.alternatives(&s.any_of, value, false)?;
        }
        let Some(expected) = json_type(s.ty) else { return Ok(()) };
        if !has_type(value, s.ty) {
            return self.fail(true, format!("must be {expected}, not {}", describe(value)));
        }
        if !s.enum_items.is_empty() && !s.enum_items.contains(value) {
            // An enum is a type of its own, as poem-openapi parses it: a wrong shape.
            let allowed: Vec<String> = s.enum_items.iter().map(Value::to_string).collect();
            return self.fail(true, format!("must be one of {}", allowed.join(", ")));
        }
        match value {
            Value::String(text) => self.string(s, text),
            Value::Number(n) => self.number(s, n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(items) => self.array(s, items),
            Value::Object(map) => self.object(s, map),
            _ => Ok(()),
        }
    }

    /// `oneOf` (exactly one alternative fits) or `anyOf` (at least one does).
    fn alternatives(&mut self, options: &[MetaSchemaRef], value: &Value, exactly_one: bool) -> Result<(), Violation> {
        let mut fits = 0;
        let mut closest: Option<Violation> = None;
        for option in options {
            match self.schema_ref(option, value) {
                Ok(()) => fits += 1,
                // A wrong value inside an alternative says more than "it is not that form".
                Err(v) if closest.as_ref().is_none_or(|c| v.path.len() > c.path.len()) => closest = Some(v),
                Err(_) => {}
            }
        }
        match (fits, exactly_one) {
            (0, _) => Err(closest.unwrap_or(Violation {
                path: self.path.clone(),
                wrong_type: true,
                message: "matches none of the allowed forms".into(),
            })),
            (1, _) | (_, false) => Ok(()),
            _ => self.fail(true, "matches more than one of the allowed forms; give exactly one".into()),
        }
    }

    fn string(&self, s: &MetaSchema, text: &str) -> Result<(), Violation> {
        let chars = text.chars().count();
        if let Some(min) = s.min_length.filter(|&min| chars < min) {
            return self.fail(false, format!("must be at least {min} characters"));
        }
        if let Some(max) = s.max_length.filter(|&max| chars > max) {
            return self.fail(false, format!("must be at most {max} characters"));
        }
        if let Some(pattern) = &s.pattern
            && !matches(pattern, text)
        {
            if let Some(rule) = super::fields::patterns::explain(pattern) {
                return self.fail(false, rule.to_string());
            }
            let what = s.description.unwrap_or("this value");
            return self.fail(false, format!("is not allowed here ({what}; pattern {pattern})"));
        }
        Ok(())
    }

    fn number(&self, s: &MetaSchema, n: f64) -> Result<(), Violation> {
        if let Some(min) = s.minimum {
            let below = if s.exclusive_minimum == Some(true) { n <= min } else { n < min };
            if below {
                return self.fail(false, format!("must be at least {min}"));
            }
        }
        if let Some(max) = s.maximum {
            let above = if s.exclusive_maximum == Some(true) { n >= max } else { n > max };
            if above {
                return self.fail(false, format!("must be at most {max}"));
            }
        }
        Ok(())
    }

    fn array(&mut self, s: &MetaSchema, items: &[Value]) -> Result<(), Violation> {
        if let Some(min) = s.min_items.filter(|&min| items.len() < min) {
            return self.fail(false, format!("must have at least {min} items"));
        }
        if let Some(max) = s.max_items.filter(|&max| items.len() > max) {
            return self.fail(false, format!("must have at most {max} items"));
        }
        if s.unique_items == Some(true) && items.iter().enumerate().any(|(i, a)| items[..i].contains(a)) {
            return self.fail(false, "must not repeat an item".into());
        }
        let Some(item_schema) = &s.items else { return Ok(()) };
        for (i, item) in items.iter().enumerate() {
            let len = self.path.len();
            self.path.push_str(&format!("[{i}]"));
            self.depth += 1;
            let result = self.schema_ref(item_schema, item);
            self.depth -= 1;
            self.path.truncate(len);
            result?;
        }
        Ok(())
    }

    fn object(&mut self, s: &MetaSchema, map: &serde_json::Map<String, Value>) -> Result<(), Violation> {
        if let Some(missing) = s.required.iter().find(|name| !map.contains_key(**name)) {
            return self.fail(true, format!("needs the property `{missing}`"));
        }
        for (name, value) in map {
            let schema = match s.properties.iter().find(|(p, _)| p == name) {
                Some((_, schema)) => schema,
                None => match &s.additional_properties {
                    Some(schema) => schema.as_ref(),
                    None => continue,
                },
            };
            let len = self.path.len();
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(name);
            self.depth += 1;
            let result = self.schema_ref(schema, value);
            self.depth -= 1;
            self.path.truncate(len);
            result?;
        }
        Ok(())
    }
}

/// The JSON type a schema type names, for messages; `None` when the schema names none.
fn json_type(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "an array",
        "object" => "an object",
        _ => return None,
    })
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Whether `text` matches `pattern` (compiled once per pattern). A pattern that does not
/// compile fails every value, so a bad one in the spec shows up at once in tests.
pub fn matches(pattern: &str, text: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    let regex = cache.entry(pattern.to_string()).or_insert_with(|| Regex::new(pattern).ok());
    regex.as_ref().is_some_and(|r| r.is_match(text))
}

#[cfg(test)]
#[path = "conform_tests.rs"]
mod tests;
