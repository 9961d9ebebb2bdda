//! The application's error types that the scenarios relay, registered
//! or not.

use crate::*;

/// An application's error type, registered in every actor of this
/// program (at the start of `main`).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CustomAppError {
    pub(crate) what: String,
    pub(crate) code: i64,
}

impl std::fmt::Display for CustomAppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.what, self.code)
    }
}

impl std::error::Error for CustomAppError {}

impl RemoteErrorType for CustomAppError {
    const NAME: &'static str = "CustomAppError";
}

pub(crate) fn custom_app_error() -> CustomAppError {
    CustomAppError {
        what: "custom failure".into(),
        code: 42,
    }
}

/// A second registered type.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnotherAppError {
    pub(crate) reasons: Vec<String>,
}

impl std::fmt::Display for AnotherAppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another failure: {}", self.reasons.join(", "))
    }
}

impl std::error::Error for AnotherAppError {}

impl RemoteErrorType for AnotherAppError {
    const NAME: &'static str = "AnotherAppError";
}

pub(crate) fn another_app_error() -> AnotherAppError {
    AnotherAppError {
        reasons: vec!["one".into(), "two".into()],
    }
}

/// Types the registry's own scenario registers as it goes.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct UnitOneError(pub(crate) u8);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct UnitTwoError(pub(crate) String);

macro_rules! unit_error_type {
    ($t:ty, $name:literal) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self)
            }
        }
        impl std::error::Error for $t {}
        impl RemoteErrorType for $t {
            const NAME: &'static str = $name;
        }
    };
}

unit_error_type!(UnitOneError, "UnitOneError");
unit_error_type!(UnitTwoError, "UnitTwoError");

/// An application's own error type, known to no registry.
#[derive(Debug)]
pub(crate) struct UnregisteredAppError(pub(crate) String);

impl std::fmt::Display for UnregisteredAppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnregisteredAppError {}
