//! The spec's patterns are the server's checks: on tricky strings and on many random ones, a
//! pattern accepts exactly what the handler's own check accepts. (Lengths are checked on the
//! raw value by `conform`; the samples stay within them.)

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sessionforge_shared::ids::MachineId;

use super::super::session_start::{StartSpec, check_spec};
use super::super::validate;
use super::{MAX_ARG_LEN, MAX_EMAIL_LEN, MAX_NAME_LEN, keeps, patterns};

/// Characters the rules treat differently: spaces of every kind, controls, bidirectional
/// formatting, zero-width and byte-order marks, `@` and `.`, non-ASCII letters.
const ALPHABET: &[char] = &[
    'a', 'Z', '0', '.', '@', '-', '_', ' ', '\t', '\n', '\r', '\u{0}', '\u{1}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}',
    '\u{a0}', '\u{61c}', '\u{1680}', '\u{180e}', '\u{2000}', '\u{200a}', '\u{200b}', '\u{200d}', '\u{200e}',
    '\u{2028}', '\u{202a}', '\u{202e}', '\u{202f}', '\u{205f}', '\u{2066}', '\u{2069}', '\u{3000}', '\u{feff}', 'é',
    '日', '🚀',
];

fn samples() -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        " ",
        "a",
        " a ",
        "\u{a0}",
        "\u{a0}x",
        "\u{feff}",
        "\u{200b}",
        "a@b.c",
        " a@b.c\t",
        "a@b",
        "a@.b",
        "a@b.",
        "a@@b.c",
        "a b@c.d",
        "a@b..c",
        "@b.c",
        "a@b.c\u{202e}",
        "é@日.🚀",
        "\u{3000}claude\u{3000}",
        "claude --yes",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    for &c in ALPHABET {
        out.push(c.to_string());
        out.push(format!("a{c}"));
        out.push(format!("{c}a@b.c"));
        out.push(format!("a@b{c}.c"));
    }
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let len = rng.gen_range(0..8);
        out.push((0..len).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect());
    }
    out
}

fn agree(what: &str, pattern_says: impl Fn(&str) -> bool, server_says: impl Fn(&str) -> bool) {
    for s in samples() {
        assert_eq!(pattern_says(&s), server_says(&s), "{what}: the pattern and the server disagree on {s:?}");
    }
}

#[test]
fn names() {
    agree("name", |s| keeps(s, 1, MAX_NAME_LEN, patterns::NAME), |s| validate::name("name", s).is_ok());
}

#[test]
fn labels() {
    agree("label", |s| keeps(s, 0, MAX_NAME_LEN, patterns::LABEL), |s| validate::display_name(Some(s)).is_ok());
}

#[test]
fn emails() {
    agree("email", |s| keeps(s, 3, MAX_EMAIL_LEN, patterns::EMAIL), |s| validate::email(s).is_ok());
}

#[test]
fn commands() {
    let spec = |command: &str| StartSpec {
        machine_id: MachineId::new(),
        command: command.to_string(),
        args: vec![],
        cwd: String::new(),
        cols: None,
        rows: None,
        env_names: vec![],
    };
    agree("command", |s| keeps(s, 1, MAX_ARG_LEN, patterns::COMMAND), |s| check_spec(&spec(s)).is_ok());
}

#[test]
fn machine_info_names() {
    use sessionforge_shared::protocol::MachineInfo;
    let info = |hostname: &str| MachineInfo {
        hostname: hostname.to_string(),
        os: "linux".into(),
        os_version: "6".into(),
        arch: "x86_64".into(),
        cpus: 1,
        memory_bytes: 1,
        agent_version: "1".into(),
    };
    agree("hostname", |s| keeps(s, 0, 100, patterns::NAME), |s| info(s).problem().is_none());
}

#[test]
fn every_pattern_in_the_spec_is_a_known_rule() {
    let spec: serde_json::Value = serde_json::from_str(&crate::api::spec_json()).expect("spec");
    let mut found = Vec::new();
    collect_patterns(&spec, &mut found);
    assert!(found.len() >= 10, "too few patterns found: {found:?}");
    for p in found {
        assert!(patterns::ALL.contains(&p.as_str()), "the spec has a pattern that is not in fields::patterns: {p}");
    }
}

fn collect_patterns(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("pattern", serde_json::Value::String(p)) => out.push(p.clone()),
                    _ => collect_patterns(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_patterns(i, out)),
        _ => {}
    }
}

#[test]
fn every_pattern_people_type_into_is_explained_in_words() {
    for pattern in patterns::ALL.iter().filter(|p| **p != super::VERSION_PATTERN) {
        let words = patterns::explain(pattern).unwrap_or_else(|| panic!("no words for {pattern}"));
        assert!(!words.contains('^'), "{words}");
    }
    assert_eq!(patterns::explain("^x$"), None);
}
