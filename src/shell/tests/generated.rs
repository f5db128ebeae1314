//! Generated messages (proptest, with a fixed seed so every run checks the same cases):
//! valid messages changed somewhere at random depth, and arbitrary JSON, decode as
//! serde_json decodes them. proptest runs here without its `fork` and `timeout` features
//! (Cargo.toml); a failing case still shrinks, as the checks return errors, not panics.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::contains_array;
use super::samples::seeds;

fn runner(cases: u32) -> TestRunner {
    let mut config = Config::with_cases(cases);
    // No file system in a browser to keep failing seeds in.
    config.failure_persistence = None;
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    TestRunner::new_with_rng(config, rng)
}

/// Runs `test` on `cases` values of `strategy`; panics with the smallest failing one.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), String>)
where
    S::Value: std::fmt::Debug,
{
    let outcome = runner(cases).run(&strategy, |v| test(v).map_err(TestCaseError::fail));
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// A JSON value as a hostile or broken sender might write it: integers a JS number holds
/// exactly (beyond them, and integral float tokens, see numbers.rs), fractions, the
/// strings the wire uses as tags and states, any string, and arrays and objects of these.
fn any_json() -> impl Strategy<Value = Value> {
    const MAX_SAFE: i64 = (1 << 53) - 1;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-MAX_SAFE..=MAX_SAFE).prop_map(|n| json!(n)),
        (0_i64..2_000_000_000_000).prop_map(|n| json!(n)),
        any::<i32>().prop_map(|n| json!(f64::from(n) + 0.5)),
        prop::sample::select(vec![
            "pairing.offer",
            "pairing.result",
            "status",
            "panel.approve",
            "auth_ack",
            "errand",
            "approved",
            "pending",
            "awaiting_approval",
            "awaiting_confirmation",
            "retrying",
            "code",
            "",
        ])
        .prop_map(|s| json!(s)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces, removes or adds one value somewhere in `v`, steered by `path`.
fn mutate(v: &mut Value, path: &[usize], with: Value, op: usize) {
    let Some((step, rest)) = path.split_first() else {
        *v = with;
        return;
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().unwrap_or_default();
            match op % 4 {
                0 if rest.is_empty() => {
                    map.remove(&key);
                }
                1 if rest.is_empty() => {
                    map.insert(format!("{key}X"), with);
                }
                _ => mutate(map.get_mut(&key).expect("key exists"), rest, with, op / 4),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let n = items.len();
            mutate(&mut items[step % n], rest, with, op);
        }
        _ => *v = with,
    }
}

#[wasm_bindgen_test]
fn messages_changed_at_random_decode_as_serde_json_decodes_them() {
    let seeds = seeds();
    let change =
        (any::<prop::sample::Index>(), prop::collection::vec(any::<usize>(), 0..5), any_json(), any::<usize>());
    check(1024, change, |(which, path, with, op)| {
        let seed = &seeds[which.index(seeds.len())];
        // Only a new array can stand where a struct does (the seeds' own arrays are lists).
        let check = if contains_array(&with) { seed.one_way } else { seed.exact };
        let mut json = seed.json.clone();
        mutate(&mut json, &path, with, op);
        check(&json.to_string())
    });
}

#[wasm_bindgen_test]
fn arbitrary_json_decodes_as_serde_json_decodes_it() {
    let seeds = seeds();
    check(512, any_json(), |json| {
        let text = json.to_string();
        seeds
            .iter()
            .try_for_each(|seed| if contains_array(&json) { (seed.one_way)(&text) } else { (seed.exact)(&text) })
    });
}
