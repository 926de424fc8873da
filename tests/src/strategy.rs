//! proptest strategies built from the spec: walk a (converted) schema and
//! produce JSON values shaped by it.
//!
//! [`GenOptions`] chooses how close to the schema the values stay:
//! optional properties sometimes absent, nullable ones sometimes `null`,
//! unknown extra properties (a newer server's), unknown values for the
//! strings a newer server may extend (the ones whose description says
//! "newer servers may add ..."; the known values are the backticked words
//! of that description), and, when [`GenOptions::break_per_mille`] is set,
//! values that break the schema (a node of the wrong type, a required
//! property left out).

use proptest::prelude::*;
use proptest::strategy::Union;
use serde_json::{Map, Value};

use crate::spec::Spec;

/// How values are generated (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    /// Leave optional properties out sometimes.
    pub omit_optional: bool,
    /// Give nullable values `null` sometimes.
    pub nulls: bool,
    /// Add unknown properties to objects sometimes.
    pub extra_fields: bool,
    /// Use unknown values for the strings a newer server may extend.
    pub unknown_values: bool,
    /// Per mille of nodes replaced by a random JSON value (and of required
    /// properties left out): 0 keeps every value valid.
    pub break_per_mille: u32,
}

impl GenOptions {
    /// Values valid per the schema, with all the variety a valid (newer)
    /// server may send: absent optionals, nulls, extra fields, new values.
    pub fn valid() -> Self {
        Self {
            omit_optional: true,
            nulls: true,
            extra_fields: true,
            unknown_values: true,
            break_per_mille: 0,
        }
    }

    /// Valid values with nothing unknown: no extra fields, only known
    /// values. What a server of exactly this spec sends.
    pub fn exact() -> Self {
        Self {
            extra_fields: false,
            unknown_values: false,
            ..Self::valid()
        }
    }

    /// Like [`valid`](Self::valid), but about one node in ten breaks the
    /// schema.
    pub fn noisy() -> Self {
        Self {
            break_per_mille: 100,
            ..Self::valid()
        }
    }
}

/// Values for the spec's component schema `name`.
///
/// Panics when the spec has no such schema.
pub fn value_for(spec: &Spec, name: &str, opts: GenOptions) -> BoxedStrategy<Value> {
    let schema = spec
        .schema(name)
        .unwrap_or_else(|| panic!("the spec has no schema `{name}`"));
    Walker { spec, opts }.walk(schema, 0)
}

/// Any JSON value, small: scalars, and arrays and objects of them two levels
/// deep.
pub fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        "[a-z 0-9]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// RFC 3339 date-times (`format: date-time`): dates 1970-2099, optional
/// fractions of 1-9 digits, `Z` or numeric offsets, now and then the
/// lower-case `t`/`z` that RFC 3339 also allows.
pub fn date_time() -> BoxedStrategy<String> {
    let date = (1970i32..2100, 1u32..=12, 1u32..=28);
    let time = (0u32..24, 0u32..60, 0u32..60);
    let fraction = prop::option::of("[0-9]{1,9}");
    let offset = prop_oneof![
        4 => Just("Z".to_string()),
        1 => Just("z".to_string()),
        3 => (prop::sample::select(vec!['+', '-']), 0u32..24, 0u32..60)
            .prop_map(|(sign, h, m)| format!("{sign}{h:02}:{m:02}")),
    ];
    let sep = prop_oneof![9 => Just('T'), 1 => Just('t')];
    (date, time, fraction, offset, sep)
        .prop_map(|((y, mo, d), (h, mi, s), frac, off, sep)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{off}")
        })
        .boxed()
}

/// The known values of a string a newer server may extend, from its
/// description; `None` for other strings.
pub fn tolerant_values(schema: &Value) -> Option<Vec<String>> {
    let description = schema["description"].as_str()?;
    if !description.contains("newer server") && !description.contains("not an\nenum") {
        return None;
    }
    let known: Vec<String> = description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_string)
        .collect();
    (!known.is_empty()).then_some(known)
}

struct Walker<'a> {
    spec: &'a Spec,
    opts: GenOptions,
}

impl Walker<'_> {
    fn walk(&self, schema: &Value, depth: usize) -> BoxedStrategy<Value> {
        let base = self.walk_valid(schema, depth);
        self.maybe_break(base)
    }

    fn maybe_break(&self, base: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
        let p = self.opts.break_per_mille.min(1000);
        if p == 0 {
            return base;
        }
        Union::new_weighted(vec![(1000 - p, base), (p, any_json())]).boxed()
    }

    fn walk_valid(&self, schema: &Value, depth: usize) -> BoxedStrategy<Value> {
        assert!(depth < 16, "schema nests too deep (a recursive schema?)");
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/$defs/");
            let target = self
                .spec
                .schema(name)
                .unwrap_or_else(|| panic!("dangling reference {reference}"));
            return self.walk_valid(target, depth + 1);
        }
        if let Some(alternatives) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
            let mut weighted = Vec::new();
            for alt in alternatives {
                let is_null = alt["type"] == "null";
                if is_null && !self.opts.nulls {
                    continue;
                }
                weighted.push((if is_null { 1 } else { 3 }, self.walk_valid(alt, depth + 1)));
            }
            return Union::new_weighted(weighted).boxed();
        }
        if let Some(all) = schema["allOf"].as_array() {
            assert_eq!(all.len(), 1, "only a one-element allOf is supported");
            return self.walk_valid(&all[0], depth + 1);
        }
        if let Some(values) = schema["enum"].as_array() {
            let values: Vec<Value> = values
                .iter()
                .filter(|v| self.opts.nulls || !v.is_null())
                .cloned()
                .collect();
            return prop::sample::select(values).boxed();
        }
        let types: Vec<String> = match &schema["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(list) => list
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let non_null: Vec<&String> = types.iter().filter(|t| *t != "null").collect();
        let nullable = types.len() != non_null.len();
        if nullable && non_null.is_empty() {
            return Just(Value::Null).boxed();
        }
        let base = match non_null.first().map(|s| s.as_str()) {
            Some("string") => self.string(schema),
            Some("integer") => {
                let min = schema["minimum"].as_i64().unwrap_or(i64::MIN);
                let max = schema["maximum"].as_i64().unwrap_or(i64::MAX);
                let small = min.max(0)..=max.min(1000).max(min.max(0));
                prop_oneof![3 => small, 1 => min..=max]
                    .prop_map(Value::from)
                    .boxed()
            }
            Some("number") => (-1.0e9f64..1.0e9).prop_map(Value::from).boxed(),
            Some("boolean") => any::<bool>().prop_map(Value::from).boxed(),
            Some("array") => {
                let items = self.walk(&schema["items"], depth + 1);
                prop::collection::vec(items, 0..4)
                    .prop_map(Value::Array)
                    .boxed()
            }
            Some("object") => self.object(schema, depth),
            None => any_json(),
            Some(other) => panic!("unsupported type {other}"),
        };
        if nullable && self.opts.nulls {
            Union::new_weighted(vec![(3, base), (1, Just(Value::Null).boxed())]).boxed()
        } else {
            base
        }
    }

    fn string(&self, schema: &Value) -> BoxedStrategy<Value> {
        if schema["format"] == "date-time" {
            return date_time().prop_map(Value::from).boxed();
        }
        if let Some(known) = tolerant_values(schema) {
            let known = prop::sample::select(known).boxed();
            return if self.opts.unknown_values {
                prop_oneof![
                    3 => known,
                    1 => "[a-z][a-z_]{2,12}",
                ]
                .prop_map(Value::from)
                .boxed()
            } else {
                known.prop_map(Value::from).boxed()
            };
        }
        prop_oneof![
            3 => "[ -~]{0,16}",
            1 => any::<String>(),
        ]
        .prop_map(Value::from)
        .boxed()
    }

    fn object(&self, schema: &Value, depth: usize) -> BoxedStrategy<Value> {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let p = f64::from(self.opts.break_per_mille.min(1000)) / 1000.0;
        let mut fields: Vec<BoxedStrategy<(String, Option<Value>)>> = Vec::new();
        for (name, prop_schema) in schema["properties"].as_object().into_iter().flatten() {
            let value = self.walk(prop_schema, depth + 1);
            let keep = if required.contains(&name.as_str()) {
                1.0 - p
            } else if self.opts.omit_optional {
                0.6
            } else {
                1.0
            };
            let name = name.clone();
            let field = if keep >= 1.0 {
                value.prop_map(Some).boxed()
            } else {
                prop::option::weighted(keep, value).boxed()
            };
            fields.push(field.prop_map(move |v| (name.clone(), v)).boxed());
        }
        let extras = if self.opts.extra_fields {
            prop::collection::vec(("zz_[a-z]{1,8}", any_json()), 0..3).boxed()
        } else {
            Just(Vec::new()).boxed()
        };
        (fields, extras)
            .prop_map(|(fields, extras)| {
                let mut map = Map::new();
                for (name, value) in fields {
                    if let Some(v) = value {
                        map.insert(name, v);
                    }
                }
                for (name, value) in extras {
                    map.insert(name, value);
                }
                Value::Object(map)
            })
            .boxed()
    }
}
