//! The handler side of an invocation: a failed invocation is an error in the trace.
//!
//! `lambda_runtime` decodes the event, calls the handler and catches its panics below any layer
//! a function can add, so the invocation span would end `UNSET` whatever happened. Wrapped in an
//! [`InvocationHandler`], the event is decoded here instead, and an event that does not decode, a
//! handler error and a panic each mark the invocation span failed (status ERROR, an `exception`
//! event, `error.type` from [`InvocationFailure::error_type`]), log one JSON line with the reason,
//! and reach Lambda as the invocation's error.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task;

use futures_util::FutureExt as _;
use lambda_runtime::tower::Service;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvocationFailure {
    /// The event is not what this function takes (an SQS event sent to the API, say).
    #[error("{0}")]
    InvalidEvent(String),
    /// The handler returned an error.
    #[error("{0}")]
    Handler(String),
    /// The handler panicked.
    #[error("the handler panicked: {0}")]
    Panic(String),
}

impl InvocationFailure {
    /// The `error.type` of the invocation span: `invalid_event`, `handler_error` or `panic`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "invalid_event",
            Self::Handler(_) => "handler_error",
            Self::Panic(_) => "panic",
        }
    }

    /// The error type Lambda reports for the invocation.
    fn lambda_error_type(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "Function.InvalidEvent",
            Self::Handler(_) => "Function.HandlerError",
            Self::Panic(_) => "Function.Panic",
        }
    }

    /// Marks `span` (the invocation's) failed and logs the reason, then becomes the diagnostic
    /// Lambda gets.
    fn report(self, span: &tracing::Span) -> Diagnostic {
        crate::record_error(span, self.error_type(), &self);
        span.in_scope(|| tracing::error!(error.type = self.error_type(), error = %self, "invocation failed"));
        Diagnostic {
            error_type: self.lambda_error_type().to_owned(),
            error_message: self.to_string(),
        }
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Wraps a handler of `LambdaEvent<T>`; give it to `lambda_runtime::Runtime::new`.
#[derive(Debug)]
pub struct InvocationHandler<S, T> {
    inner: S,
    _event: PhantomData<fn() -> T>,
}

impl<S: Clone, T> Clone for InvocationHandler<S, T> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<S, T> InvocationHandler<S, T> {
    /// Wraps the handler `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            _event: PhantomData,
        }
    }
}

type BoxedResult<R> = Pin<Box<dyn Future<Output = Result<R, Diagnostic>> + Send>>;

impl<S, T, R> Service<LambdaEvent<Box<RawValue>>> for InvocationHandler<S, T>
where
    S: Service<LambdaEvent<T>, Response = R, Error = lambda_runtime::Error>,
    S::Future: Send + 'static,
    T: DeserializeOwned,
    R: Send + 'static,
{
    type Response = R;
    type Error = Diagnostic;
    type Future = BoxedResult<R>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> task::Poll<Result<(), Diagnostic>> {
        self.inner.poll_ready(cx).map_err(|error| Diagnostic {
            error_type: "Function.NotReady".to_owned(),
            error_message: error.to_string(),
        })
    }

    fn call(&mut self, event: LambdaEvent<Box<RawValue>>) -> Self::Future {
        // The invocation span: the invocation layer enters it around this call.
        let span = tracing::Span::current();
        let LambdaEvent { payload, context } = event;
        let decoded: Result<T, _> =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(payload.get()));
        let payload = match decoded {
            Ok(payload) => payload,
            Err(error) => {
                let failure = InvocationFailure::InvalidEvent(invalid_event_message(&error));
                return Box::pin(std::future::ready(Err(failure.report(&span))));
            }
        };
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.inner.call(LambdaEvent::new(payload, context))
        }));
        let future = match call {
            Ok(future) => future,
            Err(panic) => {
                let failure = InvocationFailure::Panic(panic_message(panic.as_ref()));
                return Box::pin(std::future::ready(Err(failure.report(&span))));
            }
        };
        Box::pin(async move {
            match AssertUnwindSafe(future).catch_unwind().await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) => Err(InvocationFailure::Handler(error.to_string()).report(&span)),
                Err(panic) => Err(InvocationFailure::Panic(panic_message(panic.as_ref())).report(&span)),
            }
        })
    }
}

/// What was wrong with the event, and where: `[Records[0].body] invalid type ...`.
fn invalid_event_message(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    if path == "." {
        format!("the event is not one this function takes: {}", error.inner())
    } else {
        format!(
            "the event is not one this function takes: [{path}] {}",
            error.inner()
        )
    }
}
