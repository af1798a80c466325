//! An AWS endpoint on a free loopback port that answers with recorded responses, for the calls
//! moto does not implement (SQS `StartMessageMoveTask`, X-Ray filter expressions). A request is
//! matched by its operation: the `X-Amz-Target` header (JSON protocols, e.g.
//! `AmazonSQS.ListMessageMoveTasks`) or, without one, its path (REST protocols, e.g. X-Ray's
//! `/TraceSummaries`). Each operation answers its recorded responses in order and repeats the
//! last; every request is kept for the test to inspect.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One recorded answer: an HTTP status and a JSON body.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

impl Recorded {
    /// A 200 with `body`.
    pub fn ok(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            body: body.into(),
        }
    }
}

/// A request the endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `X-Amz-Target` header, else the path.
    pub operation: String,
    /// Every header, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The request's body.
    pub body: String,
}

impl Received {
    /// The value of header `name` (lowercase), if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Default)]
struct Book {
    answers: HashMap<String, Vec<Recorded>>,
    served: HashMap<String, usize>,
    received: Vec<Received>,
}

/// The running endpoint; stops when dropped.
#[derive(Debug)]
pub struct RecordedApi {
    address: SocketAddr,
    book: Arc<Mutex<Book>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordedApi {
    /// Listens on 127.0.0.1 (a free port); `answers` maps an operation to its responses.
    pub async fn start(
        answers: impl IntoIterator<Item = (&'static str, Vec<Recorded>)>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let book = Arc::new(Mutex::new(Book {
            answers: answers
                .into_iter()
                .map(|(operation, responses)| (operation.to_owned(), responses))
                .collect(),
            ..Book::default()
        }));
        let task = tokio::spawn(serve(listener, Arc::clone(&book)));
        Ok(Self { address, book, task })
    }

    /// The endpoint URL for an SDK configuration (`endpoint_url`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.book
            .lock()
            .map(|book| book.received.clone())
            .unwrap_or_default()
    }
}

impl Drop for RecordedApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, book: Arc<Mutex<Book>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let book = Arc::clone(&book);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(Arc::clone(&book), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    book: Arc<Mutex<Book>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| request.uri().path().to_owned());
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match request.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let recorded = match book.lock() {
        Ok(mut book) => {
            book.received.push(Received {
                operation: operation.clone(),
                headers,
                body,
            });
            let served = book.served.get(&operation).copied().unwrap_or_default();
            let answer = book
                .answers
                .get(&operation)
                .and_then(|responses| responses.get(served).or(responses.last()))
                .cloned();
            book.served.insert(operation.clone(), served + 1);
            answer
        }
        Err(_) => None,
    };
    let recorded = recorded.unwrap_or_else(|| Recorded {
        status: 400,
        body: format!(
            r#"{{"__type":"UnknownOperationException","message":"nothing recorded for {operation}"}}"#
        ),
    });
    let mut response = Response::new(Full::new(Bytes::from(recorded.body)));
    *response.status_mut() =
        StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    Ok(response)
}
