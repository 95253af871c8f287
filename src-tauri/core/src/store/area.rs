//! How an area of the store's trait is declared: once, so that an enum of stores (the
//! program's `AnyStore`, chosen at run time) forwards it without a hand-written line.
//!
//! ```ignore
//! store_area! {
//!     /// Docs of the trait.
//!     pub trait Inbox via forward_inbox {
//!         /// Docs of the method.
//!         async fn claim_due(&self, claim: &Claim, limit: u32) -> Answer<Vec<PendingDelivery>>;
//!         fn refusing_when_full(&self) -> Self;
//!     }
//! }
//! ```
//!
//! emits the trait, each `async fn` as `fn claim_due(..) -> impl Future<Output = ..> + Send`
//! (a backend writes it as an `async fn`), and an exported companion macro:
//! `forward_inbox!(AnyStore { Sqlite, Postgres })` implements `Inbox` for the enum by a
//! `match` that calls the variant's store. A plain `fn` is forwarded with `.into()`, so a
//! `-> Self` method gets the enum back through `From<VariantStore>`. The companion names
//! the method's types as the trait does, from `store` and `domain` (glob-imported where it
//! expands): a signature's type comes from one of those, or is spelled with its path.

/// See the module's comment. Exported only because the companions, which expand in other
/// crates, call it.
#[doc(hidden)]
#[macro_export]
macro_rules! store_area {
    // One method of the trait.
    (@trait [$($doc:tt)*] async fn $f:ident (&self $(, $a:ident : $t:ty)*) -> $ret:ty) => {
        $($doc)*
        fn $f(&self $(, $a: $t)*) -> impl ::core::future::Future<Output = $ret> + Send;
    };
    (@trait [$($doc:tt)*] fn $f:ident (&self $(, $a:ident : $t:ty)*) -> $ret:ty) => {
        $($doc)* fn $f(&self $(, $a: $t)*) -> $ret;
    };
    // One method of the enum's impl.
    (@enum $area:ident [$($v:ident)*]
        async fn $f:ident (&self $(, $a:ident : $t:ty)*) -> $ret:ty) => {
        async fn $f(&self $(, $a: $t)*) -> $ret {
            $crate::store_area!(@match self [$($v)*] s, $crate::store::$area::$f(s $(, $a)*).await)
        }
    };
    (@enum $area:ident [$($v:ident)*] fn $f:ident (&self $(, $a:ident : $t:ty)*) -> $ret:ty) => {
        // `.into()` wraps a `Self` answer back in the variant; any other answer is unchanged.
        #[allow(clippy::useless_conversion)]
        fn $f(&self $(, $a: $t)*) -> $ret {
            $crate::store_area!(@match self [$($v)*] s, $crate::store::$area::$f(s $(, $a)*).into())
        }
    };
    // The same call on whichever variant `$self` is (a macro of its own: the variants and
    // the arguments are two lists, which one repetition cannot walk together).
    (@match $self:ident [$($v:ident)*] $s:ident, $call:expr) => {
        match $self { $(Self::$v($s) => $call,)* }
    };
    // The trait and its companion. `$d` is a `$` for the companion's own variables.
    (@area ($d:tt)
        $(#[$meta:meta])*
        pub trait $area:ident via $companion:ident {
            $(
                $(#[$fmeta:meta])*
                $($word:ident)+ (&self $(, $a:ident : $t:ty)* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$meta])*
        pub trait $area {
            $( $crate::store_area!{@trait [$(#[$fmeta])*] $($word)+ (&self $(, $a: $t)*) -> $ret} )*
        }

        #[doc(hidden)]
        #[macro_export]
        macro_rules! $companion {
            ($d stores:ident { $d ($d v:ident),* $d (,)? }) => {
                const _: () = {
                    use $crate::domain::*;
                    use $crate::store::*;
                    impl $crate::store::$area for $d stores {
                        $( $crate::store_area!{
                            @enum $area [$d ($d v)*] $($word)+ (&self $(, $a: $t)*) -> $ret
                        } )*
                    }
                };
            };
        }
    };
    ($($area:tt)*) => { $crate::store_area!{@area ($) $($area)*} };
}
