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
    let krate = valid::krate(&parsed.krate);
    let checked = valid::service(&cx, parsed, &item_fn);
    pipeline(cx, checked, item_fn, expand::service, |item| {
        expand::service_fallback(item, &hooks, &krate)
    })
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
    let krate = valid::krate(&parsed.krate);
    let checked = valid::worker(&cx, parsed, &parsed_item);
    pipeline(
        cx,
        checked,
        (),
        |w, ()| expand::worker(w),
        |()| expand::worker_fallback(&parsed_item, &krate),
    )
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
    let krate = valid::krate(&parsed.krate);
    let checked = valid::hook(&cx, parsed, &item_fn);
    pipeline(cx, checked, item_fn, expand::hook, |item| {
        expand::hook_fallback(item, krate)
    })
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
    let parsed = ast::HandlerArgs::parse(&cx, args.into());
    let checked = valid::handler(&cx, parsed, &item_fn);
    pipeline(cx, checked, item_fn, expand::handler, |item| {
        item.into_token_stream()
    })
}

/// The one pipeline every attribute ends in: with no error, the checked attribute
/// expanded; otherwise every error, beside the fallback's item.
fn pipeline<T, I>(
    cx: Ctxt,
    checked: Option<T>,
    item: I,
    expand: impl FnOnce(T, I) -> proc_macro2::TokenStream,
    fallback: impl FnOnce(I) -> proc_macro2::TokenStream,
) -> TokenStream {
    match (cx.check(), checked) {
        (Ok(()), Some(checked)) => expand(checked, item).into(),
        (Err(errors), _) => fallback::with_errors(fallback(item), errors).into(),
        // A validator that gives up reports why first; should one ever not, the
        // user still gets an error rather than a panic in the compiler.
        (Ok(()), None) => fallback::with_errors(
            fallback(item),
            syn::Error::new(
                proc_macro2::Span::call_site(),
                "winddown could not expand this attribute and found no error to report: please file a bug",
            ),
        )
        .into(),
    }
}

/// The error for an attribute placed on something that is not a fn.
fn not_a_fn(parse_error: syn::Error, attr: &str, example: &str) -> syn::Error {
    syn::Error::new(
        parse_error.span(),
        format!("#[{attr}] goes on an async fn, e.g. `{example}`"),
    )
}
