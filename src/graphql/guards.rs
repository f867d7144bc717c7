use async_graphql::{Context, Guard, Result};

use crate::api_keys::{Principal, Scope};
use crate::graphql::errors::{forbidden, unauthenticated};

/// Field guard: the request's key must hold `scope` (or `admin`).
pub struct RequireScope(pub Scope);

impl Guard for RequireScope {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        require(ctx, self.0).map(|_| ())
    }
}

/// The caller, or `UNAUTHENTICATED` when the schema runs without one (it never does
/// behind the HTTP handler, which refuses such requests first).
pub fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| unauthenticated("an API key is required"))
}

/// Checks a scope inside a resolver (for checks that depend on arguments).
pub fn require<'a>(ctx: &Context<'a>, scope: Scope) -> Result<&'a Principal> {
    let principal = principal(ctx)?;
    if principal.has(scope) {
        Ok(principal)
    } else {
        Err(forbidden(format!("this API key lacks the `{scope}` scope")))
    }
}
