//! A cold start that cannot succeed (an invalid setting, say) is reported through the Runtime
//! API's init error endpoint, so the invoke's error names the problem. Exiting instead would show
//! as `Runtime.ExitError`, with the reason only in the log. `lambda_runtime` reports init errors
//! only for SnapStart hooks, so this is the small direct call.

use http_body_util::BodyExt as _;
use lambda_runtime_api_client::PooledClient;
use lambda_runtime_api_client::body::Body;

const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";
/// The error type Lambda shows; the message says which setting and why.
pub const ERROR_TYPE: &str = "Runtime.InvalidConfiguration";

/// Posts `message` to `/runtime/init/error` of `AWS_LAMBDA_RUNTIME_API`, and logs it (to stderr
/// when telemetry is not up yet). Failing to reach the API is logged too; the caller exits
/// non-zero either way.
pub async fn report(message: &str) {
    eprintln!(
        "{}",
        serde_json::json!({"level": "ERROR", "message": "cold start failed", "error": message})
    );
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    if let Err(error) = post(message).await {
        eprintln!(
            "{}",
            serde_json::json!({"level": "ERROR", "message": "could not report the init error to the Runtime API", "error": error})
        );
    }
}

async fn post(message: &str) -> Result<(), String> {
    // Reads AWS_LAMBDA_RUNTIME_API, as lambda_runtime does.
    let client = PooledClient::builder().build();
    let body = serde_json::json!({"errorType": ERROR_TYPE, "errorMessage": message, "stackTrace": []});
    let request = http::Request::builder()
        .method("POST")
        .uri(INIT_ERROR_PATH)
        .header("Lambda-Runtime-Function-Error-Type", ERROR_TYPE)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .map_err(|error| error.to_string())?;
    let response = client.call(request).await.map_err(|error| error.to_string())?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the Runtime API answered {status}"))
    }
}
