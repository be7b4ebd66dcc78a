//! Every semantic rule, in one place: required keys, the items the attributes accept,
//! signal names, the probes address, duplicate hooks, the drain delay within grace.
//! Each rule reports at the offending token and says what to write instead.

use proc_macro2::Span;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, Item, Lit, LitStr, Path, ReturnType, Token, Type, WherePredicate};

use crate::ast::{HandlerArgs, HookArgs, ItemFn, ServiceArgs, WorkerArgs};
use crate::attr::Slot;
use crate::ctxt::Ctxt;

/// The signals a service may listen for, as `(name, runtime variant)`.
const SIGNALS: &[(&str, &str)] = &[
    ("SIGTERM", "Term"),
    ("SIGINT", "Int"),
    ("SIGHUP", "Hup"),
    ("SIGQUIT", "Quit"),
    ("SIGUSR1", "Usr1"),
    ("SIGUSR2", "Usr2"),
];

/// A checked `#[service]`.
pub(crate) struct Service {
    pub(crate) name: LitStr,
    pub(crate) grace_ms: Option<u64>,
    pub(crate) drain_ms: Option<u64>,
    pub(crate) probes: Option<Expr>,
    pub(crate) signals: Option<Vec<(&'static str, Span)>>,
    pub(crate) hooks: Vec<Path>,
    /// The span of the `on_shutdown` key (where budget errors land).
    pub(crate) hooks_span: Span,
    pub(crate) returns_result: bool,
    /// The state type, when the signature names it (`App` in `anyhow::Result<App>`).
    pub(crate) state: Option<Type>,
    pub(crate) takes_service: bool,
    /// `logging = false`.
    pub(crate) logging: Option<bool>,
    /// `flavor = "current_thread"`: `Some(true)`; `"multi_thread"`: `Some(false)`.
    pub(crate) current_thread: Option<bool>,
    pub(crate) worker_threads: Option<u32>,
    /// `tell_clients_to_leave = false`.
    pub(crate) tell_clients_to_leave: Option<bool>,
    /// `startup_timeout = ".."`, in milliseconds.
    pub(crate) startup_timeout_ms: Option<u64>,
    /// `crate = ".."`: where winddown is (`::winddown` unless given).
    pub(crate) krate: Path,
}

fn check_async(cx: &Ctxt, item: &ItemFn, attr: &str, what: &str) {
    if item.sig.asyncness.is_none() {
        cx.error_spanned(
            item.sig.fn_token,
            format_args!(
                "#[{attr}] goes on an async fn: write `async fn {}`{what}",
                item.sig.ident
            ),
        );
    }
}

fn check_no_generics(cx: &Ctxt, item: &ItemFn, attr: &str) {
    let generics = &item.sig.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_spanned(
            generics,
            format_args!("#[{attr}] cannot go on a generic fn: remove the generic parameters"),
        );
    }
}

pub(crate) fn service(cx: &Ctxt, args: ServiceArgs, item: &ItemFn) -> Option<Service> {
    check_async(cx, item, "service", "");
    check_no_generics(cx, item, "service");
    let sig = &item.sig;
    if let Some(v) = &sig.variadic {
        cx.error_spanned(v, "#[service] takes no variadic arguments");
    }
    let mut inputs = sig.inputs.iter();
    let first = inputs.next();
    if let Some(FnArg::Receiver(r)) = first {
        cx.error_spanned(
            r,
            "#[service] goes on a free fn, not a method: write `async fn main(svc: Service)`",
        );
    }
    for extra in inputs {
        cx.error_spanned(
            extra,
            "#[service] takes at most one parameter: write `async fn main()` or `async fn main(svc: Service)`",
        );
    }

    let name = args.name.get().cloned();
    match &name {
        None if args.name.seen() => {} // given, refused and reported already
        None => cx.error(
            Span::call_site(),
            "#[service] needs `name`: write `#[service(name = \"myservice\")]`",
        ),
        Some(n) if n.value().trim().is_empty() => cx.error_spanned(
            n,
            "`name` cannot be empty: write the service's name, e.g. `name = \"myservice\"`",
        ),
        Some(_) => {}
    }

    let grace_ms = args.grace.get().map(|d| d.ms);
    if let (Some(drain), Some(grace)) = (args.drain_delay.get(), args.grace.get())
        && drain.ms > grace.ms
    {
        cx.error_spanned(
                &drain.lit,
                format_args!(
                    "`drain_delay` ({}) is longer than `grace` ({}): the shutdown could never finish in time; \
                     raise `grace` or shorten `drain_delay`",
                    drain.lit.value(),
                    grace.lit.value()
                ),
            );
    }

    if let Some(expr) = args.probes.get() {
        check_probes(cx, expr);
    }

    let signals = args.signals.get().map(|list| {
        let mut out: Vec<(&'static str, Span)> = Vec::new();
        for lit in list {
            let text = lit.value();
            let upper = text.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            match SIGNALS.iter().find(|(n, _)| *n == full) {
                Some((_, variant)) if out.iter().any(|(v, _)| v == variant) => {
                    cx.error_spanned(lit, format_args!("signal \"{text}\" is listed twice"));
                }
                Some((_, variant)) => out.push((variant, lit.span())),
                None => cx.error_spanned(
                    lit,
                    format_args!(
                        "unknown signal \"{text}\": write one of {}",
                        SIGNALS
                            .iter()
                            .map(|(n, _)| format!("\"{n}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        out
    });

    let hooks_span = args.on_shutdown.span().unwrap_or_else(Span::call_site);
    let hooks = args.on_shutdown.take().unwrap_or_default();
    for (i, hook) in hooks.iter().enumerate() {
        let text = hook.to_token_stream().to_string();
        if hooks[..i]
            .iter()
            .any(|h| h.to_token_stream().to_string() == text)
        {
            cx.error_spanned(
                hook,
                format_args!(
                    "hook `{}` is listed twice in `on_shutdown`: list each hook once",
                    text.replace(' ', "")
                ),
            );
        }
    }

    let current_thread = args.flavor.get().and_then(|f| match f.value().as_str() {
        "current_thread" => Some(true),
        "multi_thread" => Some(false),
        other => {
            cx.error_spanned(
                f,
                format_args!(
                    "`flavor` is \"multi_thread\" (the default) or \"current_thread\", not \"{other}\""
                ),
            );
            None
        }
    });
    let worker_threads = args.worker_threads.get().and_then(|(n, lit)| {
        if *n == 0 {
            cx.error_spanned(
                lit,
                "`worker_threads` cannot be zero: give the runtime at least one thread, e.g. `worker_threads = 4`",
            );
            return None;
        }
        if current_thread == Some(true) {
            cx.error_spanned(
                lit,
                "`worker_threads` has no meaning with `flavor = \"current_thread\"`, which runs everything \
                 on the main thread: remove `worker_threads`, or use `flavor = \"multi_thread\"`",
            );
            return None;
        }
        Some(*n)
    });
    let logging = args.logging.get().map(syn::LitBool::value);
    let tell_clients_to_leave = args.tell_clients_to_leave.get().map(syn::LitBool::value);

    let (returns_result, state) = match &sig.output {
        ReturnType::Type(_, ty) if is_result(ty) => (true, result_ok_type(ty)),
        ReturnType::Type(_, ty) => (false, Some((**ty).clone())),
        ReturnType::Default => (false, Some(syn::parse_quote!(()))),
    };
    Some(Service {
        name: name?,
        grace_ms,
        drain_ms: args.drain_delay.get().map(|d| d.ms),
        probes: args.probes.take(),
        signals,
        hooks,
        hooks_span,
        returns_result,
        state,
        takes_service: first.is_some(),
        logging,
        current_thread,
        worker_threads,
        tell_clients_to_leave,
        startup_timeout_ms: args.startup_timeout.get().map(|d| d.ms),
        krate: krate(&args.krate),
    })
}

/// A literal probes address must be `host:port`; a bare port gets the fix.
fn check_probes(cx: &Ctxt, expr: &Expr) {
    let Expr::Lit(ExprLit { lit, .. }) = expr else {
        return; // an expression, evaluated at start-up
    };
    let fix = |port: &str| {
        format!("`probes` needs an address, not a bare port: write `probes = \"0.0.0.0:{port}\"`")
    };
    match lit {
        Lit::Int(i) => cx.error_spanned(i, fix(i.base10_digits())),
        Lit::Str(s) => {
            let text = s.value();
            if text.parse::<std::net::SocketAddr>().is_ok() {
                return;
            }
            if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
                cx.error_spanned(s, fix(&text));
                return;
            }
            let host_port = text
                .rsplit_once(':')
                .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if host_port.is_none() {
                cx.error_spanned(
                    s,
                    format_args!("`probes` must be a socket address such as \"0.0.0.0:8081\" or \"localhost:8081\", not \"{text}\""),
                );
            }
        }
        other => cx.error_spanned(
            other,
            "`probes` takes an address string such as \"0.0.0.0:8081\", or an expression giving one",
        ),
    }
}

/// `Result<..>`, `io::Result<..>`, `anyhow::Result<..>`: the setup returns its own result.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result")
        }
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

/// `T` in `Result<T, E>` or `anyhow::Result<T>`.
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// A checked `#[worker]`.
pub(crate) struct Worker<'a> {
    pub(crate) item: &'a syn::ItemStruct,
    pub(crate) name: String,
    pub(crate) every_ms: Option<u64>,
    pub(crate) every_span: Option<Span>,
    pub(crate) stop_ms: Option<u64>,
    pub(crate) critical: bool,
    /// The struct's generics, each type parameter bounded `Send + 'static` (the
    /// worker moves to a task of its own) plus the predicates of `bound = ".."`.
    pub(crate) generics: syn::Generics,
    /// `stall = ".."`, in milliseconds.
    pub(crate) stall_ms: Option<u64>,
    pub(crate) restart: Option<Restart>,
    /// `crate = ".."`.
    pub(crate) krate: Path,
}

/// `restart = "on-failure"` and its settings, checked.
pub(crate) struct Restart {
    pub(crate) backoff_ms: u64,
    pub(crate) max_backoff_ms: u64,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) window_ms: Option<u64>,
}

/// The defaults of `Restart::on_failure()`, for the compile-time comparison.
const DEFAULT_BACKOFF_MS: u64 = 1_000;
const DEFAULT_MAX_BACKOFF_MS: u64 = 60_000;

fn restart(cx: &Ctxt, args: &WorkerArgs) -> Option<Restart> {
    let on = match args.restart.get() {
        Some(lit) => match lit.value().as_str() {
            "on-failure" => true,
            "never" => false,
            other => {
                cx.error_spanned(
                    lit,
                    format_args!(
                        "`restart` is \"on-failure\" (restart after an error or a panic) or \"never\" (the default), not \"{other}\""
                    ),
                );
                return None;
            }
        },
        None => false,
    };
    if on && let (Some(span), Some(_)) = (args.restart.span(), args.every.get()) {
        cx.error(
            span,
            "`restart` is for a worker that owns its loop: a ticking worker (`every`) already \
             survives a failed tick, which is logged while the next tick runs on time; remove `restart`",
        );
    }
    let settings = [
        ("max_restarts", args.max_restarts.span()),
        ("restart_window", args.restart_window.span()),
        ("backoff", args.backoff.span()),
        ("max_backoff", args.max_backoff.span()),
    ];
    if !on {
        for (key, span) in settings {
            if let Some(span) = span {
                cx.error(
                    span,
                    format_args!(
                        "`{key}` has no effect without `restart = \"on-failure\"`: add it, or remove `{key}`"
                    ),
                );
            }
        }
        return None;
    }
    if let Some((0, lit)) = args.max_restarts.get() {
        cx.error_spanned(
            lit,
            "`max_restarts = 0` would never restart: remove `restart`, or allow at least one, e.g. `max_restarts = 5`",
        );
    }
    let backoff_ms = args.backoff.get().map_or(DEFAULT_BACKOFF_MS, |d| d.ms);
    let max_backoff_ms = args
        .max_backoff
        .get()
        .map_or(DEFAULT_MAX_BACKOFF_MS, |d| d.ms);
    if backoff_ms > max_backoff_ms {
        let span = args
            .backoff
            .span()
            .or(args.max_backoff.span())
            .unwrap_or_else(Span::call_site);
        cx.error(
            span,
            format_args!(
                "the first `backoff` ({backoff_ms}ms) is longer than `max_backoff` ({max_backoff_ms}ms), \
                 which caps it: shorten `backoff` or raise `max_backoff`"
            ),
        );
    }
    Some(Restart {
        backoff_ms,
        max_backoff_ms,
        max_restarts: args.max_restarts.get().map(|(n, _)| *n),
        window_ms: args.restart_window.get().map(|d| d.ms),
    })
}

pub(crate) fn worker<'a>(cx: &Ctxt, args: WorkerArgs, item: &'a Item) -> Option<Worker<'a>> {
    let item = match item {
        Item::Struct(s) => s,
        Item::Enum(e) => {
            cx.error_spanned(
                e.enum_token,
                "#[worker] goes on a struct holding the worker's state, not an enum: wrap it, e.g. `struct Worker { state: MyEnum }`",
            );
            return None;
        }
        Item::Union(u) => {
            cx.error_spanned(
                u.union_token,
                "#[worker] goes on a struct holding the worker's state, not a union",
            );
            return None;
        }
        other => {
            cx.error_spanned(
                other,
                "#[worker] goes on a struct holding the worker's state",
            );
            return None;
        }
    };
    let name = match args.name.get() {
        Some(n) if n.value().trim().is_empty() => {
            cx.error_spanned(
                n,
                "`name` cannot be empty: leave it out to use the struct's name",
            );
            return None;
        }
        Some(n) => n.value(),
        None => item.ident.to_string(),
    };
    let mut generics = item.generics.clone();
    let extra = args.bound.get().and_then(|lit| {
        lit.parse_with(Punctuated::<WherePredicate, Token![,]>::parse_terminated)
            .map_err(|e| {
                cx.error_spanned(
                    lit,
                    format!(
                        "`bound` holds where-clause predicates, e.g. `bound = \"T: Display + Sync\"`: {e}"
                    ),
                )
            })
            .ok()
    });
    let params: Vec<syn::Ident> = generics.type_params().map(|t| t.ident.clone()).collect();
    let clause = generics.make_where_clause();
    for ident in params {
        clause
            .predicates
            .push(syn::parse_quote!(#ident: ::core::marker::Send + 'static));
    }
    clause.predicates.extend(extra.into_iter().flatten());
    let restart = restart(cx, &args);
    Some(Worker {
        item,
        generics,
        restart,
        stall_ms: args.stall.get().map(|d| d.ms),
        name,
        every_ms: args.every.get().map(|d| d.ms),
        every_span: args.every.span(),
        stop_ms: args.stop_timeout.get().map(|d| d.ms),
        critical: args.critical.get().is_some(),
        krate: krate(&args.krate),
    })
}

/// A checked `#[on_shutdown]`.
pub(crate) struct Hook {
    pub(crate) order: Option<u32>,
    pub(crate) timeout_ms: u64,
    pub(crate) at_start: bool,
    pub(crate) after: Vec<Path>,
    /// `listed_elsewhere`: no service of this crate needs to list it.
    pub(crate) listed_elsewhere: bool,
    /// `crate = ".."`.
    pub(crate) krate: Path,
}

pub(crate) fn hook(cx: &Ctxt, args: HookArgs, item: &ItemFn) -> Option<Hook> {
    check_async(cx, item, "on_shutdown", "");
    check_no_generics(cx, item, "on_shutdown");
    let mut inputs = item.sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) => cx.error_spanned(
            r,
            "an #[on_shutdown] hook is a free fn, not a method: take the state as a parameter, e.g. `async fn close_db(app: &App)`",
        ),
        Some(FnArg::Typed(arg)) => match &*arg.ty {
            Type::Reference(r) if r.mutability.is_some() => cx.error_spanned(
                r,
                "hooks share the state: take `&State`, not `&mut State` (use a Mutex inside the state for what must change)",
            ),
            Type::Reference(_) => {}
            other => cx.error_spanned(
                other,
                format_args!(
                    "a hook borrows the state returned by setup: write `{}: &{}`",
                    arg.pat.to_token_stream(),
                    other.to_token_stream()
                ),
            ),
        },
        None => {}
    }
    for extra in inputs {
        cx.error_spanned(
            extra,
            "an #[on_shutdown] hook takes nothing or one `&State` parameter: remove this one",
        );
    }
    // `Self` in the signature: an associated fn, which has no module-level name a
    // service could list.
    if mentions_self(&item.sig) {
        cx.error_spanned(
            &item.sig.ident,
            format_args!(
                "an #[on_shutdown] hook is a free fn, not an associated fn: move `{}` out of the impl block \
                 (e.g. `async fn {}(app: &App)` at module level) so `on_shutdown = [..]` can list it",
                item.sig.ident, item.sig.ident
            ),
        );
    }
    let order = args.order.get().map(|(n, _)| *n);
    let timeout = args.timeout.get().map(|d| d.ms);
    if !args.timeout.seen() && !args.suggested.contains(&"timeout") {
        cx.error(
            Span::call_site(),
            format_args!(
                "#[on_shutdown] needs `timeout`: write `#[on_shutdown({}timeout = \"5s\")]`",
                order.map_or(String::new(), |o| format!("order = {o}, "))
            ),
        );
    }
    let after = args.after.take().unwrap_or_default();
    let me = item.sig.ident.to_string();
    for (i, path) in after.iter().enumerate() {
        let text = path.to_token_stream().to_string().replace(' ', "");
        let is_me = text == me || text == format!("self::{me}");
        if is_me {
            cx.error_spanned(
                path,
                format_args!(
                    "hook `{me}` lists itself in `after`, so it could never start: remove `{me}` from its own `after`"
                ),
            );
        } else if after[..i]
            .iter()
            .any(|p| p.to_token_stream().to_string().replace(' ', "") == text)
        {
            cx.error_spanned(
                path,
                format_args!("`{text}` is listed twice in `after`: list each hook once"),
            );
        }
    }
    let at_start = match args.at.get() {
        None => false,
        Some(at) => match at.value().as_str() {
            "start" => true,
            "end" => false,
            other => {
                cx.error_spanned(
                    at,
                    format_args!(
                        "`at` is \"start\" (right after readiness turns false, before the drain delay) \
                         or \"end\" (after the drain, the default), not \"{other}\""
                    ),
                );
                return None;
            }
        },
    };
    Some(Hook {
        order,
        timeout_ms: timeout?,
        at_start,
        after,
        listed_elsewhere: args.listed_elsewhere.get().is_some(),
        krate: krate(&args.krate),
    })
}

/// The path of the winddown crate: `crate = ".."`, or `::winddown`.
pub(crate) fn krate(slot: &Slot<Path>) -> Path {
    slot.get()
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(::winddown))
}

/// Whether the fn is certainly inside an impl block: it takes `self` or names `Self`.
pub(crate) fn is_associated(sig: &syn::Signature) -> bool {
    matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) || mentions_self(sig)
}

fn mentions_self(sig: &syn::Signature) -> bool {
    sig.to_token_stream()
        .to_string()
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|w| w == "Self")
}

/// A checked `#[handler]`: its return type and where winddown is.
pub(crate) struct Handler {
    pub(crate) ret: Type,
    pub(crate) krate: Path,
}

pub(crate) fn handler(cx: &Ctxt, args: HandlerArgs, item: &ItemFn) -> Option<Handler> {
    check_async(cx, item, "handler", "");
    match &item.sig.output {
        ReturnType::Type(_, ty) => Some(Handler {
            ret: (**ty).clone(),
            krate: krate(&args.krate),
        }),
        ReturnType::Default => {
            cx.error_spanned(
                &item.sig.ident,
                "#[handler] needs a return type `Result<T, E>` with `E: From<winddown::ShuttingDown>`, \
                 so a call refused during shutdown can say so",
            );
            None
        }
    }
}
