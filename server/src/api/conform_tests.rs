//! Tests of `conform`: each rule a schema can state, on small types made for the purpose.

use poem_openapi::registry::Registry;
use poem_openapi::types::Type;
use poem_openapi::{Enum, Object, Union};
use serde_json::{Value, json};

use super::{Violation, check};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
enum Colour {
    Red,
    Blue,
}

#[derive(Object, Debug)]
struct Inner {
    #[oai(validator(min_length = 1, max_length = 3, pattern = "^[a-z]+$"))]
    tag: String,
}

#[derive(Object, Debug)]
struct Sample {
    name: String,
    /// A described reference, which poem-openapi wraps in `allOf`.
    colour: Colour,
    #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
    count: Option<u32>,
    #[oai(default, validator(max_items = 2))]
    tags: Vec<Inner>,
    flag: Option<bool>,
}

#[derive(Object, Debug)]
struct Names {
    names: Vec<String>,
}

#[derive(Object, Debug)]
struct Ids {
    ids: Vec<u32>,
}

#[derive(Union, Debug)]
#[oai(one_of)]
enum Either {
    Names(Names),
    Ids(Ids),
}

fn run<T: Type>(value: Value) -> Result<(), Violation> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    check(&registry, &T::schema_ref(), &value)
}

fn ok() -> Value {
    json!({"name": "n", "colour": "red", "count": 3, "tags": [{"tag": "ab"}], "flag": true})
}

fn with(key: &str, value: Value) -> Value {
    let mut v = ok();
    v[key] = value;
    v
}

#[test]
fn a_conforming_body_passes() {
    assert_eq!(run::<Sample>(ok()), Ok(()));
    assert_eq!(run::<Sample>(json!({"name": "n", "colour": "blue"})), Ok(()), "optional fields may be absent");
}

#[test]
fn wrong_json_types_are_refused_not_coerced() {
    for (key, value) in [("name", json!(false)), ("name", json!(42)), ("name", json!(2.2e-16)), ("flag", json!("true"))]
    {
        let v = run::<Sample>(with(key, value.clone())).expect_err("refused");
        assert!(v.wrong_type, "{key}: {value}");
        assert_eq!(v.field(), key);
    }
    let v = run::<Sample>(with("count", json!("3"))).expect_err("a string is not an integer");
    assert_eq!((v.path.as_str(), v.wrong_type), ("count", true));
    let v = run::<Sample>(with("count", json!(1.5))).expect_err("not an integer");
    assert!(v.wrong_type);
    let v = run::<Sample>(json!([1])).expect_err("the body must be an object");
    assert_eq!(v.path, "");
    assert_eq!(v.to_string(), "the body must be an object, not an array");
}

#[test]
fn null_is_refused_where_the_schema_does_not_allow_it() {
    let v = run::<Sample>(with("count", Value::Null)).expect_err("null");
    assert!(v.wrong_type);
    assert!(run::<Sample>(Value::Null).is_err(), "a missing body");
}

#[test]
fn constraints_are_checked_with_the_path() {
    let v = run::<Sample>(with("count", json!(11))).expect_err("above the maximum");
    assert_eq!((v.path.as_str(), v.wrong_type), ("count", false));
    assert!(run::<Sample>(with("count", json!(0))).is_err(), "below the minimum");
    assert!(run::<Sample>(with("colour", json!("green"))).expect_err("not in the enum").wrong_type);
    let too_many = json!([{"tag": "a"}, {"tag": "b"}, {"tag": "c"}]);
    assert_eq!(run::<Sample>(with("tags", too_many)).expect_err("items").path, "tags");
    let v = run::<Sample>(with("tags", json!([{"tag": "a"}, {"tag": "ABC"}]))).expect_err("pattern");
    assert_eq!((v.path.as_str(), v.field()), ("tags[1].tag", "tags"));
    assert!(run::<Sample>(with("tags", json!([{"tag": ""}]))).is_err(), "min length");
    assert!(run::<Sample>(with("tags", json!([{"tag": "abcd"}]))).is_err(), "max length");
    assert!(run::<Sample>(with("tags", json!([{"tag": "ééé"}]))).is_err(), "pattern, not bytes");
    assert!(run::<Sample>(with("tags", json!([{}]))).expect_err("required").wrong_type);
}

#[test]
fn lengths_count_characters_not_bytes() {
    #[derive(Object)]
    struct Short {
        #[oai(validator(max_length = 2))]
        s: String,
    }
    assert_eq!(run::<Short>(json!({"s": "éé"})), Ok(()));
    assert!(run::<Short>(json!({"s": "abc"})).is_err());
}

#[test]
fn one_of_needs_exactly_one_form_and_checks_inside_it() {
    assert_eq!(run::<Either>(json!({"names": ["a"]})), Ok(()));
    assert_eq!(run::<Either>(json!({"ids": [1]})), Ok(()));
    assert!(run::<Either>(json!({})).is_err(), "neither form");
    assert!(run::<Either>(json!({"names": ["a"], "ids": [1]})).is_err(), "both forms");
    let v = run::<Either>(json!({"names": [false]})).expect_err("a boolean among names");
    assert_eq!((v.path.as_str(), v.wrong_type), ("names[0]", true), "{v}");
}
