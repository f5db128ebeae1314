//! Every valid message, broken in every place in every simple way (a field dropped,
//! renamed or added; any value replaced by another type, wrapped in an array or an object;
//! the whole message in an array): accepted or refused as serde_json accepts or refuses it,
//! to the same value. Exhaustive over the seeds; generated.rs goes deeper at random.

use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::samples::{seeds, Seed};
use super::{all_pass, contains_array};

/// One step from a JSON value to a value inside it.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path to every value inside `v`, `v` itself (the empty path) first.
fn paths(v: &Value) -> Vec<Vec<Step>> {
    let mut all = vec![vec![]];
    let children: Vec<(Step, &Value)> = match v {
        Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (Step::Index(i), v)).collect(),
        _ => vec![],
    };
    for (step, child) in children {
        for mut rest in paths(child) {
            rest.insert(0, step.clone());
            all.push(rest);
        }
    }
    all
}

fn at<'v>(v: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// What may stand in for `original`: every JSON type, the wire's tag and state strings,
/// and `original` wrapped. Integers stay where a JS number is exact (numbers.rs has the rest).
fn replacements(original: &Value) -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(0.5),
        json!(1_700_000_000_000_u64),
        json!(""),
        json!("x"),
        json!("lpt_x"),
        json!("approved"),
        json!("awaiting_confirmation"),
        json!("pairing.offer"),
        json!({}),
        json!({ "x": original }),
        json!([]),
        json!([original]),
    ]
}

/// Every broken version of the seed, and whether it has a new array (the one-way check:
/// an array may stand where a struct does, which serde_json reads and from_js refuses).
fn broken(seed: &Value) -> Vec<(Value, bool)> {
    let mut all = vec![(json!([seed]), true)];
    for path in paths(seed) {
        let original = at(&mut seed.clone(), &path).clone();
        for with in replacements(&original) {
            let mut v = seed.clone();
            let new_array = contains_array(&with);
            *at(&mut v, &path) = with;
            all.push((v, new_array));
        }
        if let Value::Object(map) = &original {
            for key in map.keys() {
                let mut v = seed.clone();
                let Value::Object(target) = at(&mut v, &path) else { unreachable!() };
                let value = target.remove(key).expect("key exists");
                all.push((v.clone(), false));
                let Value::Object(target) = at(&mut v, &path) else { unreachable!() };
                target.insert(format!("{key}X"), value.clone());
                all.push((v.clone(), false));
                let Value::Object(target) = at(&mut v, &path) else { unreachable!() };
                target.insert(key.to_uppercase(), value);
                all.push((v, false));
            }
            for with in replacements(&original) {
                let mut v = seed.clone();
                let new_array = contains_array(&with);
                let Value::Object(target) = at(&mut v, &path) else { unreachable!() };
                target.insert("unknown".into(), with);
                all.push((v, new_array));
            }
        }
    }
    all
}

fn check_all(seed: &Seed) -> (usize, Vec<String>) {
    let cases = broken(&seed.json);
    let failures = cases
        .iter()
        .filter_map(|(v, new_array)| {
            let text = v.to_string();
            if *new_array {
                (seed.one_way)(&text).err()
            } else {
                (seed.exact)(&text).err()
            }
        })
        .collect();
    (cases.len(), failures)
}

#[wasm_bindgen_test]
fn every_simple_break_of_every_message_decodes_as_serde_json_decodes_it() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for seed in seeds() {
        let text = seed.json.to_string();
        assert!((seed.accepted)(&text), "the seed itself decodes: {text}");
        (seed.exact)(&text).expect("the seed itself decodes alike");
        let (n, mut failed) = check_all(&seed);
        checked += n;
        failures.append(&mut failed);
    }
    assert!(checked > 4_000, "only {checked} broken messages");
    all_pass(failures);
}
