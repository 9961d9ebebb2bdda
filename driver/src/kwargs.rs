//! A call's keyword arguments one by one: Python's `**kwargs`, as typed
//! services read and write them.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::Raw;

use crate::error::{Error, Result};
use crate::payload::encode;

/// The keyword arguments of one call, taken one by one by the function
/// called, or given one by one by the caller.
///
/// On the wire a call's arguments are one map from parameter names to
/// values (`Start.kwargs`), which is what Python's
/// `portal.run_from_ns('math', 'square', x=7)` sends. A typed service
/// (see [`service!`](crate::service!)) reads and writes its parameters
/// with this type; use it by hand to serve or call a function whose
/// parameters are only known at run time.
///
/// Reading follows Python's rules for keyword calls, with the same
/// `TypeError`s: every parameter must be given (one whose type takes
/// `None`, an `Option`, may be left out), none may be given that the
/// function does not take, and each must have its parameter's type.
///
/// ```
/// # use tractor_driver::{Kwargs, Result};
/// # fn demo() -> Result<()> {
/// // The caller's side.
/// let sent = Kwargs::new().arg("x", &7i64).arg("label", &"seven").into_raw()?;
/// assert_eq!(sent.to_json(), r#"{"x": 7, "label": "seven"}"#);
///
/// // The called function's side.
/// let mut args = Kwargs::read("math:square", &sent)?;
/// let x: i64 = args.take("x")?;
/// let label: String = args.take("label")?;
/// let scale: Option<i64> = args.take("scale")?; // left out: None
/// args.finish()?;
/// assert_eq!((x, label.as_str(), scale), (7, "seven", None));
///
/// // A parameter missing is Python's TypeError.
/// let mut args = Kwargs::read("math:square", &Kwargs::new().into_raw()?)?;
/// let e = args.take::<i64>("x").unwrap_err();
/// assert_eq!(e.to_string(), "TypeError: math:square() missing 1 required argument: 'x'");
/// # Ok(())
/// # }
/// # demo().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Kwargs {
    /// The function, as errors name it (`ns:func`); empty while building.
    func: String,
    /// The arguments not taken yet, in wire order.
    entries: Vec<(String, Raw)>,
    /// The first argument that could not be encoded, while building.
    failed: Option<Error>,
}

impl Default for Kwargs {
    fn default() -> Self {
        Self::new()
    }
}

impl Kwargs {
    /// No arguments yet, to give some with [`Kwargs::arg`].
    pub fn new() -> Self {
        Kwargs {
            func: String::new(),
            entries: Vec::new(),
            failed: None,
        }
    }

    /// Adds the argument `name`. A value that cannot be encoded fails the
    /// call it is sent with (see [`Kwargs::into_raw`]).
    pub fn arg<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        if self.failed.is_none() {
            match encode(value) {
                Ok(raw) => self.push(name, raw),
                Err(e) => self.failed = Some(e),
            }
        }
        self
    }

    /// Adds the argument `name`, already encoded.
    pub fn arg_raw(mut self, name: &str, value: Raw) -> Self {
        self.push(name, value);
        self
    }

    fn push(&mut self, name: &str, value: Raw) {
        match self.entries.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name.to_owned(), value)),
        }
    }

    /// The arguments as the map a call carries, or the error of the first
    /// that could not be encoded.
    pub fn into_raw(self) -> Result<Raw> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        Ok(Raw::from_map_entries(
            self.entries.iter().map(|(k, v)| (k.as_str(), v.clone())),
        ))
    }

    /// The arguments `kwargs` of a call of `func` (named so in errors,
    /// e.g. `math:square`). Anything but a map with string keys is a
    /// `TypeError`.
    pub fn read(func: &str, kwargs: &Raw) -> Result<Self> {
        // Python sends `None` for a call without arguments when it builds
        // the message itself; no argument is what it means.
        let entries = match kwargs.is_nil() {
            true => Vec::new(),
            false => kwargs
                .map_entries()
                .map_err(|e| type_error(func, format!("got bad arguments: {}", e.reason)))?,
        };
        Ok(Kwargs {
            func: func.to_owned(),
            entries,
            failed: None,
        })
    }

    /// Takes the argument `name` as a `T`. Left out, it is `None` if `T`
    /// takes one (an `Option`, `()`), else a `TypeError`, as is a value of
    /// the wrong type.
    pub fn take<T: DeserializeOwned>(&mut self, name: &str) -> Result<T> {
        match self.entries.iter().position(|(k, _)| k == name) {
            Some(at) => {
                let (_, value) = self.entries.remove(at);
                value.decode::<T>().map_err(|e| {
                    type_error(
                        &self.func,
                        format!(
                            "got a bad argument '{name}': expected `{}`, found {} ({})",
                            e.expected, e.found, e.reason
                        ),
                    )
                })
            }
            None => Raw::NIL.decode::<T>().map_err(|_| {
                type_error(&self.func, format!("missing 1 required argument: '{name}'"))
            }),
        }
    }

    /// The names of the arguments not taken yet.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Ends reading: an argument left that the function does not take is
    /// a `TypeError`.
    pub fn finish(self) -> Result<()> {
        match self.entries.first() {
            None => Ok(()),
            Some((name, _)) => Err(type_error(
                &self.func,
                format!("got an unexpected keyword argument '{name}'"),
            )),
        }
    }
}

fn type_error(func: &str, what: String) -> Error {
    Error::raise("TypeError", format!("{func}() {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn every_rule_of_a_keyword_call_is_a_type_error() {
        let sent = Kwargs::new()
            .arg("x", &3)
            .arg("y", &"three")
            .into_raw()
            .expect("encoded");
        let mut args = Kwargs::read("m:f", &sent).expect("a map");
        let bad = message(args.take::<i64>("y").unwrap_err());
        assert!(
            bad.starts_with("TypeError: m:f() got a bad argument 'y': expected `i64`, found str ("),
            "{bad}"
        );
        assert_eq!(args.take::<i64>("x").expect("x"), 3);
        args.finish().expect("nothing left");

        let mut args = Kwargs::read("m:f", &sent).expect("a map");
        assert_eq!(args.take::<i64>("x").expect("x"), 3);
        assert_eq!(args.names().collect::<Vec<_>>(), ["y"]);
        assert_eq!(
            message(args.finish().unwrap_err()),
            "TypeError: m:f() got an unexpected keyword argument 'y'"
        );

        let not_a_map = Raw::encode(&[1, 2]).expect("encoded");
        assert!(
            message(Kwargs::read("m:f", &not_a_map).unwrap_err())
                .starts_with("TypeError: m:f() got bad arguments: not a map")
        );
        // Nil is no arguments at all.
        let mut none = Kwargs::read("m:f", &Raw::NIL).expect("nil");
        assert_eq!(none.take::<Option<u8>>("z").expect("optional"), None);
        none.finish().expect("empty");
    }

    #[test]
    fn a_value_that_cannot_be_encoded_fails_the_arguments() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(
                &self,
                _: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("not today"))
            }
        }
        let bad = Refuses;
        let built = Kwargs::new().arg("x", &1).arg("bad", &bad).arg("y", &2);
        assert!(built.into_raw().is_err());
        // Given twice, the last value wins, in the first place.
        let raw = Kwargs::new()
            .arg("x", &1)
            .arg("y", &2)
            .arg("x", &3)
            .into_raw()
            .expect("encoded");
        assert_eq!(raw.to_json(), r#"{"x": 3, "y": 2}"#);
    }
}
