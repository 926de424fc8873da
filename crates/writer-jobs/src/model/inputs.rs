//! The named inputs of one run of an application.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The inputs of one job: an ordered list of `(name, values)`.
///
/// A text input has one value, a multi-select several, a file input a file
/// id. Adding a name twice replaces its values (in its first position).
///
/// As JSON it is an object `name -> string | [strings]`:
///
/// ```
/// use writer_jobs::Inputs;
/// let inputs = Inputs::new()
///     .text("Product name", "Terra running shoe")
///     .list("Tags", ["running", "outdoor"]);
/// assert_eq!(
///     serde_json::to_string(&inputs).unwrap(),
///     r#"{"Product name":"Terra running shoe","Tags":["running","outdoor"]}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    items: Vec<(String, Vec<String>)>,
}

impl Inputs {
    /// No inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a one-value input (a text or a single choice).
    pub fn text(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.list(name, [value.into()])
    }

    /// Adds an input with several values (a multi-select, several files).
    pub fn list<I, S>(mut self, name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set(name.into(), values.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `name` to `values`, replacing what it had.
    pub fn set(&mut self, name: String, values: Vec<String>) {
        match self.items.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = values,
            None => self.items.push((name, values)),
        }
    }

    /// The values of `name`, if it is set.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.items
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The inputs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> + '_ {
        self.items.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// How many inputs there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The request body the API expects: `{"inputs":[{"id","value":[..]}]}`.
    pub fn to_wire(&self) -> writer_api::types::GenerateApplicationRequest {
        writer_api::types::GenerateApplicationRequest {
            inputs: self
                .items
                .iter()
                .map(|(id, value)| writer_api::types::JobInput {
                    id: id.clone(),
                    value: value.clone(),
                })
                .collect(),
        }
    }

    /// A stable hex SHA-256 of the inputs' canonical form (names sorted,
    /// values in order), independent of the order the inputs were added:
    /// the batch journal uses it to recognise a row it has seen.
    pub fn fingerprint(&self) -> String {
        let mut sorted: Vec<&(String, Vec<String>)> = self.items.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        // Canonical form: a JSON array of [name, [values]] pairs; JSON
        // string escaping keeps names and values unambiguous.
        let canonical = serde_json::to_vec(&sorted).expect("strings always serialize to JSON");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = Sha256::digest(&canonical);
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        hex
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Inputs {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        iter.into_iter()
            .fold(Inputs::new(), |inputs, (n, v)| inputs.text(n, v))
    }
}

impl Serialize for Inputs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.items.len()))?;
        for (name, values) in &self.items {
            if values.len() == 1 {
                map.serialize_entry(name, &values[0])?;
            } else {
                map.serialize_entry(name, values)?;
            }
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Inputs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of input name -> string or array of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inputs, A::Error> {
                let mut inputs = Inputs::new();
                while let Some((name, value)) = map.next_entry::<String, OneOrMany>()? {
                    let values = match value {
                        OneOrMany::One(v) => vec![v],
                        OneOrMany::Many(v) => v,
                    };
                    inputs.set(name, values);
                }
                Ok(inputs)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip_keeps_order() {
        let json = r#"{"Zeta":"z","Alpha":["a","b"],"Empty":[]}"#;
        let inputs: Inputs = serde_json::from_str(json).unwrap();
        let names: Vec<_> = inputs.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Zeta", "Alpha", "Empty"]);
        assert_eq!(inputs.get("Alpha").unwrap(), ["a", "b"]);
        assert_eq!(serde_json::to_string(&inputs).unwrap(), json);
        assert!(serde_json::from_str::<Inputs>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn wire_shape() {
        let inputs = Inputs::new()
            .text("Product name", "Terra")
            .list("Tags", ["a", "b"]);
        let wire = serde_json::to_value(inputs.to_wire()).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"inputs":[
                {"id":"Product name","value":["Terra"]},
                {"id":"Tags","value":["a","b"]}
            ]})
        );
    }

    #[test]
    fn fingerprint_is_stable_and_order_independent() {
        let a = Inputs::new()
            .text("Product name", "Terra")
            .list("Tags", ["a", "b"]);
        let b = Inputs::new()
            .list("Tags", ["a", "b"])
            .text("Product name", "Terra");
        assert_eq!(a.fingerprint(), b.fingerprint());
        // Pinned: a change here would orphan every existing batch journal.
        assert_eq!(
            a.fingerprint(),
            "5eaba86cd33f5268e2048a7f9caf6d57eb8475611f6ef304532f2d647b1d393c"
        );
        let c = Inputs::new()
            .text("Product name", "Terra")
            .list("Tags", ["b", "a"]);
        assert_ne!(a.fingerprint(), c.fingerprint());
        // Names and values cannot run into each other.
        let d = Inputs::new().list("a", ["b,c"]);
        let e = Inputs::new().list("a", ["b", "c"]);
        assert_ne!(d.fingerprint(), e.fingerprint());
    }

    #[test]
    fn same_name_replaces() {
        let inputs = Inputs::new().text("a", "1").text("b", "2").text("a", "3");
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs.get("a").unwrap(), ["3"]);
        assert!(!inputs.is_empty());
    }
}
