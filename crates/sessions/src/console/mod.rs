//! The operators' console, server side: accounts with roles per application, sign-in, and
//! the operator API the console page (web/console/) is a client of — usable from scripts
//! with the platform's operator token too.

pub mod accounts;
pub mod apps;
pub mod error_rates;
pub mod review;
pub mod second_factor;
pub mod settings;
pub mod signin;
pub mod team;
pub mod workflows;

pub use accounts::{
    Action, ConsoleSession, Grant, Operator, OperatorStore, OperatorWrite, Role, SetupLink,
};
pub use signin::Principal;
