#![doc = include_str!("../README.md")]

pub mod batch;
pub mod config;
pub mod lambda;
pub mod mailer;
pub mod notification;
pub mod store;
