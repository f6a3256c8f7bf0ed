//! `serve`: a Prometheus exporter following blackbox_exporter's
//! multi-target pattern. Prometheus schedules, stores and alerts; this
//! answers `GET /probe?target=NAME[&profile=P]` with the metrics of one
//! inventory target (run now, or from its cache within the minimum
//! interval), `GET /metrics` with the exporter's own, and `GET /` with a
//! small index of the targets' last verdicts.
//!
//! Bounds: a request timeout (a probe still running then goes on, and its
//! result is cached), a bound on probes at once, a bound on connections, a
//! header read timeout; only targets of the inventory are probed; answers
//! hold metrics and verdicts, never reports, messages or secrets.

pub mod exporter;
pub mod exposition;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use quick_xml::escape::escape;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use exporter::{Exporter, ExporterOptions, Refusal, Slot};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client has this long to send its request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `exporter` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    exporter: Arc<Exporter>,
    listener: TcpListener,
    request_timeout: Duration,
    shutdown: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            _ = shutdown.cancelled() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let exporter = exporter.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let exporter = exporter.clone();
                async move { Ok::<_, Infallible>(answer(&exporter, request, request_timeout).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

async fn answer(
    exporter: &Arc<Exporter>,
    request: Request<Incoming>,
    request_timeout: Duration,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        exporter.refuse("method");
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match request.uri().path() {
        "/probe" => {
            probe(
                exporter,
                request.uri().query().unwrap_or(""),
                request_timeout,
            )
            .await
        }
        "/metrics" => {
            let mut response = text(StatusCode::OK, &exporter.own_metrics());
            set_type(&mut response, EXPOSITION);
            response
        }
        "/" => {
            let mut response = text(StatusCode::OK, &index(exporter));
            set_type(&mut response, "text/html; charset=utf-8");
            response
        }
        _ => {
            exporter.refuse("path");
            text(
                StatusCode::NOT_FOUND,
                "not found: try /, /metrics or /probe?target=NAME\n",
            )
        }
    }
}

async fn probe(
    exporter: &Arc<Exporter>,
    query: &str,
    request_timeout: Duration,
) -> Response<Full<Bytes>> {
    let mut target = None;
    let mut profile = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "target" => target = Some(value.into_owned()),
            "profile" => profile = Some(value.into_owned()),
            _ => {}
        }
    }
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        exporter.refuse("bad_request");
        return text(
            StatusCode::BAD_REQUEST,
            "missing the `target` parameter: /probe?target=NAME\n",
        );
    };
    // The probe runs as its own task: when the request times out it goes
    // on, and the next scrape finds its result in the cache.
    let task = {
        let exporter = exporter.clone();
        let target = target.clone();
        tokio::spawn(async move { exporter.probe(&target, profile.as_deref()).await })
    };
    match tokio::time::timeout(request_timeout, task).await {
        Ok(Ok(Ok(probed))) => {
            let mut response = text(StatusCode::OK, &probed.exposition);
            set_type(&mut response, EXPOSITION);
            response
        }
        Ok(Ok(Err(refusal))) => {
            exporter.refuse(match refusal {
                Refusal::UnknownTarget(_) => "unknown_target",
                Refusal::UnknownProfile(_) => "unknown_profile",
            });
            let status = match refusal {
                Refusal::UnknownTarget(_) => StatusCode::NOT_FOUND,
                Refusal::UnknownProfile(_) => StatusCode::BAD_REQUEST,
            };
            text(
                status,
                &format!("{}\n", crate::redact::scrub(&refusal.to_string())),
            )
        }
        Ok(Err(join)) => {
            tracing::error!(target = %target, error = %join, "probe crashed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "the probe crashed\n")
        }
        Err(_) => {
            exporter.count(&target, |c| c.timed_out += 1);
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the probe did not finish within the request timeout; it goes on and its result is cached\n",
            )
        }
    }
}

/// The index: every target with its last verdict. Names and verdicts only.
fn index(exporter: &Exporter) -> String {
    let mut rows = String::new();
    for (name, last) in exporter.last_verdicts() {
        let (verdict, when) = match last {
            Some((verdict, at)) => (
                verdict.as_str().to_owned(),
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ),
            None => ("not probed yet".to_owned(), String::new()),
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"/probe?target={}\">{}</a></td><td>{}</td><td>{}</td></tr>\n",
            escape(name),
            escape(name),
            escape(&verdict),
            escape(&when)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>mssql-preflight exporter</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:24px}}td,th{{padding:4px 12px;text-align:left;border-bottom:1px solid #ddd}}</style>\
         </head>\n<body>\n<h1>mssql-preflight exporter</h1>\n\
         <p>Probe a target with <code>/probe?target=NAME</code> (optionally <code>&amp;profile=pmp</code>); the exporter's own metrics are at <a href=\"/metrics\">/metrics</a>.</p>\n\
         <table>\n<thead><tr><th>Target</th><th>Last verdict</th><th>At (UTC)</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n</body>\n</html>\n"
    )
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    set_type(&mut response, "text/plain; charset=utf-8");
    response
}

fn set_type(response: &mut Response<Full<Bytes>>, content_type: &'static str) {
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
}
