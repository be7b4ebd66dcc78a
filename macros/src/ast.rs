//! What the attributes read: their keys into set-once slots, and the items they sit
//! on, with the signature parsed and the body kept as tokens.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Expr, LitInt, LitStr, Path, Signature, Visibility};

use crate::attr::{self, Dur, Slot};
use crate::ctxt::Ctxt;

/// A function item whose body is kept as tokens (cheap, and its spans survive).
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// The braced body, braces included.
    pub(crate) body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body = match input.parse::<TokenTree>()? {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => g.into_token_stream(),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected the function's body",
                ));
            }
        };
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl ToTokens for ItemFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}

/// `#[service(...)]`.
pub(crate) struct ServiceArgs {
    pub(crate) span: Span,
    pub(crate) name: Slot<LitStr>,
    pub(crate) grace: Slot<Dur>,
    pub(crate) drain_delay: Slot<Dur>,
    pub(crate) probes: Slot<Expr>,
    pub(crate) signals: Slot<Vec<LitStr>>,
    pub(crate) on_shutdown: Slot<Vec<Path>>,
    pub(crate) runtime: RuntimeArgs,
    pub(crate) tell_clients_to_leave: Slot<syn::LitBool>,
    pub(crate) startup_timeout: Slot<Dur>,
}

/// The keys that pick the log subscriber and the runtime, as `#[tokio::main]`'s do.
pub(crate) struct RuntimeArgs {
    pub(crate) logging: Slot<syn::LitBool>,
    pub(crate) flavor: Slot<LitStr>,
    pub(crate) worker_threads: Slot<(u32, LitInt)>,
}

pub(crate) const SERVICE_KEYS: &[&str] = &[
    "name",
    "grace",
    "drain_delay",
    "probes",
    "signals",
    "on_shutdown",
    "logging",
    "flavor",
    "worker_threads",
    "tell_clients_to_leave",
    "startup_timeout",
];

impl ServiceArgs {
    pub(crate) fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut out = ServiceArgs {
            span: Span::call_site(),
            name: Slot::new("name"),
            grace: Slot::new("grace"),
            drain_delay: Slot::new("drain_delay"),
            probes: Slot::new("probes"),
            signals: Slot::new("signals"),
            on_shutdown: Slot::new("on_shutdown"),
            runtime: RuntimeArgs {
                logging: Slot::new("logging"),
                flavor: Slot::new("flavor"),
                worker_threads: Slot::new("worker_threads"),
            },
            tell_clients_to_leave: Slot::new("tell_clients_to_leave"),
            startup_timeout: Slot::new("startup_timeout"),
        };
        attr::parse_keys(cx, args, "service", SERVICE_KEYS, |key, meta| {
            let span = meta.path.span_of_ident();
            match key {
                "name" => {
                    let v = attr::string(cx, meta, key, "\"myservice\"")?;
                    out.name.set(cx, span, v);
                }
                "grace" => {
                    let v = attr::duration(cx, meta, key, "\"30s\"", false)?;
                    out.grace.set(cx, span, v);
                }
                "drain_delay" => {
                    let v = attr::duration(cx, meta, key, "\"10s\"", true)?;
                    out.drain_delay.set(cx, span, v);
                }
                "probes" => {
                    let v = attr::expr(meta, key, "\"0.0.0.0:8081\"")?;
                    out.probes.set(cx, span, Some(v));
                }
                "signals" => {
                    let v = attr::strings(cx, meta, key, "[\"SIGTERM\", \"SIGINT\"]")?;
                    out.signals.set(cx, span, v);
                }
                "on_shutdown" => {
                    let v = attr::paths(cx, meta, key, "[close_db, flush_telemetry]")?;
                    out.on_shutdown.set(cx, span, v);
                }
                "logging" => {
                    let v = attr::boolean(cx, meta, key, "false")?;
                    out.runtime.logging.set(cx, span, v);
                }
                "flavor" => {
                    let v = attr::string(cx, meta, key, "\"current_thread\"")?;
                    out.runtime.flavor.set(cx, span, v);
                }
                "worker_threads" => {
                    let v = attr::int_u32(cx, meta, key, "4")?;
                    out.runtime.worker_threads.set(cx, span, v);
                }
                "tell_clients_to_leave" => {
                    let v = attr::boolean(cx, meta, key, "false")?;
                    out.tell_clients_to_leave.set(cx, span, v);
                }
                "startup_timeout" => {
                    let v = attr::duration(cx, meta, key, "\"1m\"", false)?;
                    out.startup_timeout.set(cx, span, v);
                }
                _ => unreachable!("key listed in SERVICE_KEYS"),
            }
            Ok(())
        });
        out
    }
}

/// `#[worker(...)]`.
pub(crate) struct WorkerArgs {
    pub(crate) every: Slot<Dur>,
    pub(crate) stop_timeout: Slot<Dur>,
    pub(crate) critical: Slot<()>,
    pub(crate) name: Slot<LitStr>,
    pub(crate) bound: Slot<LitStr>,
    pub(crate) stall: Slot<Dur>,
    pub(crate) restart: Slot<LitStr>,
    pub(crate) max_restarts: Slot<(u32, LitInt)>,
    pub(crate) restart_window: Slot<Dur>,
    pub(crate) backoff: Slot<Dur>,
    pub(crate) max_backoff: Slot<Dur>,
}

pub(crate) const WORKER_KEYS: &[&str] = &[
    "every",
    "stop_timeout",
    "critical",
    "name",
    "bound",
    "stall",
    "restart",
    "max_restarts",
    "restart_window",
    "backoff",
    "max_backoff",
];

impl WorkerArgs {
    pub(crate) fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut out = WorkerArgs {
            every: Slot::new("every"),
            stop_timeout: Slot::new("stop_timeout"),
            critical: Slot::new("critical"),
            name: Slot::new("name"),
            bound: Slot::new("bound"),
            stall: Slot::new("stall"),
            restart: Slot::new("restart"),
            max_restarts: Slot::new("max_restarts"),
            restart_window: Slot::new("restart_window"),
            backoff: Slot::new("backoff"),
            max_backoff: Slot::new("max_backoff"),
        };
        attr::parse_keys(cx, args, "worker", WORKER_KEYS, |key, meta| {
            let span = meta.path.span_of_ident();
            match key {
                "every" => {
                    let v = attr::duration(cx, meta, key, "\"5s\"", false)?;
                    out.every.set(cx, span, v);
                }
                "stop_timeout" => {
                    let v = attr::duration(cx, meta, key, "\"5s\"", false)?;
                    out.stop_timeout.set(cx, span, v);
                }
                "critical" => {
                    let v = attr::flag(cx, meta, key)?;
                    out.critical.set(cx, span, v);
                }
                "name" => {
                    let v = attr::string(cx, meta, key, "\"cleanup\"")?;
                    out.name.set(cx, span, v);
                }
                "bound" => {
                    let v = attr::string(cx, meta, key, "\"T: Display\"")?;
                    out.bound.set(cx, span, v);
                }
                "stall" => {
                    let v = attr::duration(cx, meta, key, "\"1m\"", false)?;
                    out.stall.set(cx, span, v);
                }
                "restart" => {
                    let v = attr::string(cx, meta, key, "\"on-failure\"")?;
                    out.restart.set(cx, span, v);
                }
                "max_restarts" => {
                    let v = attr::int_u32(cx, meta, key, "5")?;
                    out.max_restarts.set(cx, span, v);
                }
                "restart_window" => {
                    let v = attr::duration(cx, meta, key, "\"10m\"", false)?;
                    out.restart_window.set(cx, span, v);
                }
                "backoff" => {
                    let v = attr::duration(cx, meta, key, "\"1s\"", false)?;
                    out.backoff.set(cx, span, v);
                }
                "max_backoff" => {
                    let v = attr::duration(cx, meta, key, "\"1m\"", false)?;
                    out.max_backoff.set(cx, span, v);
                }
                _ => unreachable!("key listed in WORKER_KEYS"),
            }
            Ok(())
        });
        out
    }
}

/// `#[on_shutdown(...)]`.
pub(crate) struct HookArgs {
    pub(crate) order: Slot<(u32, LitInt)>,
    pub(crate) timeout: Slot<Dur>,
    pub(crate) at: Slot<LitStr>,
    pub(crate) after: Slot<Vec<Path>>,
    pub(crate) listed_elsewhere: Slot<()>,
    /// Keys suggested for unknown ones: a `timout` typo is not also "needs `timeout`".
    pub(crate) suggested: Vec<&'static str>,
}

pub(crate) const HOOK_KEYS: &[&str] = &["order", "timeout", "at", "after", "listed_elsewhere"];

impl HookArgs {
    pub(crate) fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut out = HookArgs {
            order: Slot::new("order"),
            timeout: Slot::new("timeout"),
            at: Slot::new("at"),
            after: Slot::new("after"),
            listed_elsewhere: Slot::new("listed_elsewhere"),
            suggested: Vec::new(),
        };
        let suggested = attr::parse_keys(cx, args, "on_shutdown", HOOK_KEYS, |key, meta| {
            let span = meta.path.span_of_ident();
            match key {
                "order" => {
                    let v = attr::int_u32(cx, meta, key, "1")?;
                    out.order.set(cx, span, v);
                }
                "timeout" => {
                    let v = attr::duration(cx, meta, key, "\"5s\"", false)?;
                    out.timeout.set(cx, span, v);
                }
                "at" => {
                    let v = attr::string(cx, meta, key, "\"start\"")?;
                    out.at.set(cx, span, v);
                }
                "after" => {
                    let v = attr::paths(cx, meta, key, "[stop_producer, db::flush]")?;
                    out.after.set(cx, span, v);
                }
                "listed_elsewhere" => {
                    let v = attr::flag(cx, meta, key)?;
                    out.listed_elsewhere.set(cx, span, v);
                }
                _ => unreachable!("key listed in HOOK_KEYS"),
            }
            Ok(())
        });
        out.suggested = suggested;
        out
    }
}

/// The span of a path's last ident (a key), for errors about that key.
trait SpanOfIdent {
    fn span_of_ident(&self) -> Span;
}

impl SpanOfIdent for Path {
    fn span_of_ident(&self) -> Span {
        self.segments
            .last()
            .map_or_else(Span::call_site, |s| s.ident.span())
    }
}
