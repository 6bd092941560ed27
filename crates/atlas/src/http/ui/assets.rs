//! The UI's stylesheet and script, embedded in the binary and served under a
//! name that carries their content hash, so they can be cached for a year.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::page::not_found;

pub struct Asset {
    pub url: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Asset {
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    Asset {
        url: format!("/assets/{stem}-{}.{extension}", &hash[..12]),
        body,
        content_type,
    }
}

pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "css",
        include_str!("assets/app.css"),
        "text/css; charset=utf-8",
    )
});
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "js",
        include_str!("assets/app.js"),
        "text/javascript; charset=utf-8",
    )
});

pub async fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/assets/{file}");
    match [&*CSS, &*JS].into_iter().find(|a| a.url == wanted) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => not_found("There is no such file.").into_response(),
    }
}
