//! The one HTTP client for user-supplied URLs, guarded against SSRF.
//!
//! Every host is resolved here (through the system resolver) and every
//! address it resolves to is checked against the [`NetPolicy`]; if any
//! address is refused the target is refused, and the connection is made
//! only to the checked addresses (reqwest connects to what the resolver
//! returns), which defeats DNS rebinding. IP-literal URLs skip DNS and are
//! checked directly. Redirects are never followed, the connect timeout is
//! 5 s and the whole request 15 s, and response reads are capped. One
//! pooled client is shared, with HTTP/2 where the target offers it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tradehook_core::webhook::netpolicy::{Blocked, NetPolicy, check_url_scheme};
use tradehook_core::webhook::outcome::ErrorClass;

/// The largest response body kept for the audit trail.
pub const SNIPPET_BYTES: usize = 2048;
/// How much of a response body is read at most (the rest is dropped).
const MAX_READ_BYTES: usize = 64 * 1024;

/// A refusal by the address policy, carried through reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SsrfError(Blocked);

/// A name that did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("could not resolve {0}")]
struct DnsError(String);

struct GuardedResolver {
    policy: Arc<NetPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| {
                    Box::new(DnsError(host.clone())) as Box<dyn std::error::Error + Send + Sync>
                })?
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(DnsError(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            for addr in &addrs {
                policy.check(addr.ip()).map_err(|b| {
                    Box::new(SsrfError(b)) as Box<dyn std::error::Error + Send + Sync>
                })?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Settings of the guarded client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub policy: NetPolicy,
    pub allow_http: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            policy: NetPolicy::default(),
            allow_http: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// What came back from one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The first [`SNIPPET_BYTES`] of the body, lossily decoded.
    pub snippet: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request that got no response, with its class for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class:?}: {message}")]
pub struct SendError {
    pub class: ErrorClass,
    pub message: String,
}

impl SendError {
    fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        SendError {
            class,
            message: message.into(),
        }
    }
}

/// The guarded, pooled client. Cheap to clone.
#[derive(Clone)]
pub struct SafeClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl SafeClient {
    pub fn new(config: ClientConfig) -> Self {
        let resolver = GuardedResolver {
            policy: Arc::new(config.policy.clone()),
        };
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent(concat!("tradehook/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        SafeClient {
            http,
            config: Arc::new(config),
        }
    }

    /// Checks a URL the way a send would, without sending: the scheme, and
    /// every address the host resolves to. Used when an endpoint is saved.
    pub async fn check_url(&self, url: &str) -> Result<(), SendError> {
        let parsed = self.parse(url)?;
        let host = parsed
            .host()
            .ok_or_else(|| SendError::new(ErrorClass::InvalidUrl, "the URL has no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<IpAddr> = match host {
            url::Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            url::Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            url::Host::Domain(name) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| SendError::new(ErrorClass::Dns, format!("could not resolve {name}")))?
                .map(|a| a.ip())
                .collect(),
        };
        if addrs.is_empty() {
            return Err(SendError::new(
                ErrorClass::Dns,
                "the host resolves to no address",
            ));
        }
        for ip in addrs {
            self.config
                .policy
                .check(ip)
                .map_err(|b| SendError::new(ErrorClass::SsrfBlocked, b.to_string()))?;
        }
        Ok(())
    }

    fn parse(&self, url: &str) -> Result<url::Url, SendError> {
        check_url_scheme(url, self.config.allow_http)
            .map_err(|e| SendError::new(ErrorClass::InvalidUrl, e.to_string()))?;
        url::Url::parse(url)
            .map_err(|e| SendError::new(ErrorClass::InvalidUrl, format!("invalid URL: {e}")))
    }

    /// POSTs `body` with `headers` and reads at most a capped body.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Response, SendError> {
        let parsed = self.parse(url)?;
        // IP literals never reach the resolver: check them here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => {
                return Err(SendError::new(
                    ErrorClass::InvalidUrl,
                    "the URL has no host",
                ));
            }
        };
        if let Some(ip) = literal {
            self.config
                .policy
                .check(ip)
                .map_err(|b| SendError::new(ErrorClass::SsrfBlocked, b.to_string()))?;
        }
        let mut request = self.http.post(parsed).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let mut read = Vec::new();
        while read.len() < MAX_READ_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                Ok(None) => break,
                // The status is what counts; a body cut short is noted.
                Err(e) if e.is_timeout() => {
                    return Err(SendError::new(
                        ErrorClass::Timeout,
                        "timed out reading the response",
                    ));
                }
                Err(_) => break,
            }
        }
        read.truncate(SNIPPET_BYTES);
        Ok(Response {
            status,
            headers,
            snippet: String::from_utf8_lossy(&read).into_owned(),
        })
    }
}

/// Maps a reqwest error to its audit class by walking the source chain.
fn classify(err: reqwest::Error) -> SendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(ssrf) = e.downcast_ref::<SsrfError>() {
            return SendError::new(ErrorClass::SsrfBlocked, ssrf.to_string());
        }
        if let Some(dns) = e.downcast_ref::<DnsError>() {
            return SendError::new(ErrorClass::Dns, dns.to_string());
        }
        source = e.source();
    }
    let text = format!("{err:#}");
    let lower = text.to_ascii_lowercase();
    let class = if err.is_timeout() {
        ErrorClass::Timeout
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        ErrorClass::Tls
    } else if err.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    };
    SendError::new(class, text)
}
