//! Building blocks shared by pages: the app shell and small UI pieces.

pub mod shell;
pub mod ui;
