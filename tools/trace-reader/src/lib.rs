#![doc = include_str!("../README.md")]

pub mod pipeline;
pub mod source;
pub mod span;
pub mod waterfall;
pub mod xray;
