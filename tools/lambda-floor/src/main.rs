//! An empty Lambda function: the runtime, one handler that returns its event, nothing else. What
//! any Rust function costs before it does anything, on the same machine and in the same run as
//! the functions `make bench` measures against it.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
