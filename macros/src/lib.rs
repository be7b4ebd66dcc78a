//! The attribute macros of [winddown](https://docs.rs/winddown). Use them through the
//! `winddown` crate, which re-exports them and provides what they expand to.
//!
//! Each entry point only forwards: `ast` parses the keys and the item, `valid` checks
//! every rule (reporting all errors at once, each at its token), `expand` generates,
//! and `fallback` re-emits the item beside the errors.

mod ast;
mod attr;
mod ctxt;
mod duration;
mod expand;
mod fallback;
#[cfg(test)]
mod proptests;
mod valid;

use proc_macro::TokenStream;
use quote::ToTokens;

use crate::ctxt::Ctxt;

/// Turns `async fn main` into the service's entry point; documented as `winddown::service`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse::<ast::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            return fallback::with_errors(item.into(), not_a_fn(e, "service", "async fn main()"))
                .into();
        }
    };
    let cx = Ctxt::new();
    let parsed = ast::ServiceArgs::parse(&cx, args.into());
    // Kept for the fallback: the hooks stay listed, so an error in the service is not
    // also "hook `x` is not listed" at every hook.
    let hooks = parsed.on_shutdown.get().cloned().unwrap_or_default();
    let checked = valid::service(&cx, parsed, &item_fn);
    match (cx.check(), checked) {
        (Ok(()), Some(svc)) => expand::service(svc, item_fn).into(),
        (Err(e), _) => fallback::with_errors(expand::service_fallback(item_fn, &hooks), e).into(),
        (Ok(()), None) => unreachable!("valid::service returns None only after an error"),
    }
}

/// Makes a struct a worker. See `winddown::worker`.
#[proc_macro_attribute]
pub fn worker(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed_item = match syn::parse::<syn::Item>(item.clone()) {
        Ok(i) => i,
        Err(e) => return fallback::with_errors(item.into(), e).into(),
    };
    let cx = Ctxt::new();
    let parsed = ast::WorkerArgs::parse(&cx, args.into());
    let checked = valid::worker(&cx, parsed, &parsed_item);
    match (cx.check(), checked) {
        (Ok(()), Some(w)) => expand::worker(w).into(),
        (Err(e), _) => fallback::with_errors(item.into(), e).into(),
        (Ok(()), None) => unreachable!("valid::worker returns None only after an error"),
    }
}

/// Makes an async fn a shutdown hook with an order and a timeout. See
/// `winddown::on_shutdown`.
#[proc_macro_attribute]
pub fn on_shutdown(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse::<ast::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            return fallback::with_errors(
                item.into(),
                not_a_fn(e, "on_shutdown", "async fn close_db(app: &App)"),
            )
            .into();
        }
    };
    let cx = Ctxt::new();
    let parsed = ast::HookArgs::parse(&cx, args.into());
    let checked = valid::hook(&cx, parsed, &item_fn);
    match (cx.check(), checked) {
        (Ok(()), Some(h)) => expand::hook(h, item_fn).into(),
        (Err(e), _) => fallback::with_errors(expand::hook_fallback(item_fn), e).into(),
        (Ok(()), None) => unreachable!("valid::hook returns None only after an error"),
    }
}

/// Counts each call of an async fn in flight and refuses calls once intake has
/// closed. See `winddown::handler`.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse::<ast::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            return fallback::with_errors(
                item.into(),
                not_a_fn(
                    e,
                    "handler",
                    "async fn get_user(..) -> Result<User, AppError>",
                ),
            )
            .into();
        }
    };
    let cx = Ctxt::new();
    let args = proc_macro2::TokenStream::from(args);
    if !args.is_empty() {
        cx.error_spanned(&args, "#[handler] takes no arguments: write `#[handler]`");
    }
    let ret = valid::handler(&cx, &item_fn);
    match (cx.check(), ret) {
        (Ok(()), Some(ret)) => expand::handler(ret, item_fn).into(),
        (Err(e), _) => fallback::with_errors(item_fn.into_token_stream(), e).into(),
        (Ok(()), None) => unreachable!("valid::handler returns None only after an error"),
    }
}

/// The error for an attribute placed on something that is not a fn.
fn not_a_fn(parse_error: syn::Error, attr: &str, example: &str) -> syn::Error {
    syn::Error::new(
        parse_error.span(),
        format!("#[{attr}] goes on an async fn, e.g. `{example}`"),
    )
}
