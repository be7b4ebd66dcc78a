//! On error: the user's item still goes out beside `compile_error!`, so the rest of
//! the crate keeps type-checking and follow-on errors do not bury the real one.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn with_errors(item: TokenStream, err: syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    quote! {
        #item
        #errors
    }
}
