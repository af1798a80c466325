#![doc = include_str!("../README.md")]

pub mod batch;
pub mod config;
pub mod effect;
pub mod lambda;
pub mod metrics;
pub mod process;
pub mod store;
