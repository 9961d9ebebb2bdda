//! Error types that keep their type across actors: the registry (Python's
//! `reg_err_types`).
//!
//! An error travels as its type's name (`src_type_str`/`boxed_type_str`),
//! its message and its traceback. An application type registered under a
//! name ([`RemoteErrorType::NAME`]) also sends its fields (its serde form,
//! in the `Error` message's `error_fields` extension, spec/PROTOCOL.md
//! §7.6), and a receiving actor that registered the same name rebuilds
//! the value: [`Error::downcast_ref`](crate::Error::downcast_ref) gives it
//! back, directly or after any number of relays. An unregistered name
//! stays a [`RemoteError`](crate::RemoteError) with that name, as any
//! error from a Python peer (which sends no fields) does.
//!
//! The registry is the process's: register every type at the start of
//! `main`, before the entry point, so that every actor of the program
//! (each one this program started again) has it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{ErrorFields, Raw};

/// An error type that keeps its type across actors once registered with
/// [`register_error_type`].
///
/// It travels under [`NAME`](RemoteErrorType::NAME) (its Python type name
/// for a Python peer, which re-raises it as its own type of that name if
/// it registered one), with its `Display` as the message and its serde
/// form as the fields.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// # use tractor_driver::{Error, RemoteErrorType, register_error_type};
///
/// #[derive(Debug, Serialize, Deserialize, PartialEq)]
/// struct QuotaExceeded {
///     used: u64,
///     limit: u64,
/// }
///
/// impl std::fmt::Display for QuotaExceeded {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "{} of {} bytes used", self.used, self.limit)
///     }
/// }
///
/// impl std::error::Error for QuotaExceeded {}
///
/// impl RemoteErrorType for QuotaExceeded {
///     const NAME: &'static str = "QuotaExceeded";
/// }
///
/// // At the start of `main`, before the entry point: in every actor.
/// register_error_type::<QuotaExceeded>();
///
/// fn store(size: u64) -> Result<(), Error> {
///     Err(QuotaExceeded { used: size, limit: 100 })?
/// }
///
/// let e = store(120).unwrap_err();
/// assert_eq!(e.type_name(), Some("QuotaExceeded"));
/// assert_eq!(e.to_string(), "QuotaExceeded: 120 of 100 bytes used");
/// // Here, and in the actor a served function's failure reaches.
/// let q = e.downcast_ref::<QuotaExceeded>().expect("its own type");
/// assert_eq!((q.used, q.limit), (120, 100));
/// ```
pub trait RemoteErrorType:
    std::error::Error + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The name it travels under; one type per name in a program.
    const NAME: &'static str;
}

/// A registered type: how to send one and how to rebuild one.
#[derive(Clone)]
struct Entry {
    name: &'static str,
    type_id: TypeId,
    rust_name: &'static str,
    encode: fn(&(dyn Any + Send + Sync)) -> Option<Raw>,
    decode: fn(&Raw) -> Option<Arc<dyn Any + Send + Sync>>,
}

/// The process's registry: by Rust type and by name.
#[derive(Default)]
struct Registry {
    by_type: HashMap<TypeId, Entry>,
    by_name: HashMap<&'static str, Entry>,
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn encode<T: RemoteErrorType>(value: &(dyn Any + Send + Sync)) -> Option<Raw> {
    let value = value.downcast_ref::<T>()?;
    match Raw::encode(value) {
        Ok(raw) => Some(raw),
        Err(e) => {
            tracing::debug!(target: "tractor::runtime", name = T::NAME, error = %e, "an error's fields do not encode: sent without them");
            None
        }
    }
}

fn decode<T: RemoteErrorType>(raw: &Raw) -> Option<Arc<dyn Any + Send + Sync>> {
    match raw.decode::<T>() {
        Ok(value) => Some(Arc::new(value)),
        Err(e) => {
            tracing::debug!(target: "tractor::runtime", name = T::NAME, error = %e, "an error's fields do not fit its registered type");
            None
        }
    }
}

/// Registers `T` under [`T::NAME`](RemoteErrorType::NAME), in this
/// process: an error of type `T` converted into an [`Error`](crate::Error)
/// (with `?`) travels under that name with its fields, and an error of
/// that name received from another actor is rebuilt as a `T`
/// ([`Error::downcast_ref`](crate::Error::downcast_ref)). Registering a
/// type again changes nothing; registering another type under a name
/// taken replaces it. See [`RemoteErrorType`] for an example.
pub fn register_error_type<T: RemoteErrorType>() {
    let entry = Entry {
        name: T::NAME,
        type_id: TypeId::of::<T>(),
        rust_name: std::any::type_name::<T>(),
        encode: encode::<T>,
        decode: decode::<T>,
    };
    let mut r = registry().write().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = r.by_name.insert(T::NAME, entry.clone())
        && old.type_id != entry.type_id
    {
        r.by_type.remove(&old.type_id);
    }
    r.by_type.insert(entry.type_id, entry);
}

/// The Rust type registered under the error type name `name` (its
/// `std::any::type_name`), if any: the lookup by name that rebuilds a
/// received error.
///
/// ```
/// # use tractor_driver::registered_error_type;
/// // Python's builtin names, and the runtime's own, are names only.
/// assert_eq!(registered_error_type("ValueError"), None);
/// ```
pub fn registered_error_type(name: &str) -> Option<&'static str> {
    let r = registry().read().unwrap_or_else(|e| e.into_inner());
    r.by_name.get(name).map(|e| e.rust_name)
}

/// The name and fields of `value` if its type is registered.
pub(crate) fn fields_of(value: &(dyn Any + Send + Sync)) -> Option<ErrorFields> {
    let entry = {
        let r = registry().read().unwrap_or_else(|e| e.into_inner());
        r.by_type.get(&value.type_id())?.clone()
    };
    Some(ErrorFields {
        type_name: entry.name.to_owned(),
        value: (entry.encode)(value)?,
    })
}

/// The name `value`'s type is registered under, if it is.
pub(crate) fn name_of(value: &(dyn Any + Send + Sync)) -> Option<&'static str> {
    let r = registry().read().unwrap_or_else(|e| e.into_inner());
    r.by_type.get(&value.type_id()).map(|e| e.name)
}

/// The value received `fields` stand for, if their name is registered
/// here and they fit the type.
pub(crate) fn rebuild(fields: &ErrorFields) -> Option<Arc<dyn Any + Send + Sync>> {
    let decode = {
        let r = registry().read().unwrap_or_else(|e| e.into_inner());
        r.by_name.get(fields.type_name.as_str())?.decode
    };
    decode(&fields.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorKind};
    use tractor_protocol::{RemoteError, Uid, pack_error};

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Overdrawn {
        account: String,
        cents: i64,
    }

    impl std::fmt::Display for Overdrawn {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} is {} cents short", self.account, self.cents)
        }
    }

    impl std::error::Error for Overdrawn {}

    impl RemoteErrorType for Overdrawn {
        const NAME: &'static str = "Overdrawn";
    }

    /// `e` as the actor it is sent to receives it.
    fn sent(e: &Error) -> Error {
        let uid = Uid::new("leaf", "leaf-uuid");
        let msg = pack_error(&e.to_task_error(), &uid, None, "");
        ErrorKind::Remote(RemoteError::from_message(msg)).into()
    }

    #[test]
    fn a_registered_type_is_rebuilt_where_it_is_received() {
        register_error_type::<Overdrawn>();
        let value = Overdrawn {
            account: "acme".into(),
            cents: 250,
        };
        let e = Error::from(value);
        assert_eq!(e.to_string(), "Overdrawn: acme is 250 cents short");
        let received = sent(&e);
        let r = received.remote().expect("remote");
        assert_eq!((r.src_type(), r.boxed_type()), ("Overdrawn", "Overdrawn"));
        assert_eq!(r.text(), "acme is 250 cents short");
        let back = received.downcast_ref::<Overdrawn>().expect("rebuilt");
        assert_eq!((back.account.as_str(), back.cents), ("acme", 250));

        // A name alone (a Python peer's, or raised by name) rebuilds
        // nothing; neither do fields that do not fit the type.
        let named = sent(&Error::raise("Overdrawn", "no fields"));
        assert!(named.downcast_ref::<Overdrawn>().is_none());
        let mut msg = r.message().clone();
        if let Some(f) = msg.fields.as_mut() {
            f.value = Raw::encode(&"not a struct").expect("encodes");
        }
        let misfit: Error = ErrorKind::Remote(RemoteError::from_message(msg)).into();
        assert!(misfit.downcast_ref::<Overdrawn>().is_none());
    }
}
