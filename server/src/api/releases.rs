//! Agent releases over HTTP: server admins publish (the artifact is the raw request body,
//! streamed to disk), list and yank builds; anyone may read a channel's signed manifest, the
//! plain-text "latest" record the install scripts use, and the public signing key.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::releases::{ManifestResponse, TARGETS};
use sessionforge_shared::signing::{PublicKey, Signed};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::body::JsonBody;
use super::dto::ts;
use super::params::{Channel, Target, Version};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::releases::{self, Publish, signing};
use crate::state::AppState;
use crate::store::releases::Release;

pub struct ReleasesApi;

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReleaseDto {
    pub id: Uuid,
    pub version: String,
    pub target: String,
    pub channel: String,
    /// Lower-case hex SHA-256 of the artifact.
    pub sha256: String,
    pub size: u64,
    pub file_name: String,
    pub notes: String,
    pub created_at: OffsetDateTime,
    /// Set once yanked: the release is then left out of manifests and never downloaded again.
    pub yanked_at: Option<OffsetDateTime>,
    /// Set once its stored artifact was found damaged: never served again.
    pub corrupt_at: Option<OffsetDateTime>,
}

impl From<Release> for ReleaseDto {
    fn from(r: Release) -> Self {
        Self {
            id: r.id,
            version: r.version,
            target: r.target,
            channel: r.channel,
            sha256: r.sha256,
            size: r.size,
            file_name: r.file_name,
            notes: r.notes,
            created_at: ts(r.created_at),
            yanked_at: r.yanked_at.map(ts),
            corrupt_at: r.corrupt_at.map(ts),
        }
    }
}

/// Whether a channel has a live build for one target.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TargetBuild {
    /// Rust target triple.
    pub target: String,
    /// The newest live version on the channel; absent when none is published.
    pub version: Option<String>,
}

#[derive(ApiResponse)]
pub enum Published {
    #[oai(status = 201)]
    Created(Json<ReleaseDto>),
}

#[OpenApi(prefix_path = "/api/v1/releases", tag = "ApiTags::Releases")]
impl ReleasesApi {
    /// Publish an agent build: the request body is the binary itself. Server admins only.
    /// The same version of a target cannot be published twice.
    #[oai(path = "/", method = "post")]
    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        /// Semantic version, such as `1.4.2`.
        version: Query<Version>,
        /// Rust target triple, such as `x86_64-unknown-linux-musl`.
        target: Query<Target>,
        /// `stable` (the default) or `beta`.
        channel: Query<Option<Channel>>,
        /// At most 10000 characters.
        #[oai(validator(max_length = 10000))]
        notes: Query<Option<String>>,
        /// File name for downloads (default `sessionforge-agent-VERSION-TARGET[.exe]`).
        file_name: Query<Option<String>>,
        body: Binary<poem::Body>,
    ) -> Result<Published, ApiError> {
        auth.require_server_admin()?;
        let req = Publish {
            version: version.0.0,
            target: target.0.0,
            channel: channel.0.unwrap_or_else(Channel::stable).check()?.to_string(),
            notes: notes.0.unwrap_or_default(),
            file_name: file_name.0,
        };
        // Refuse bad metadata before reading a large body.
        req.validate()?;
        let stream = Box::pin(body.0.into_bytes_stream());
        let limit = state.settings.releases.max_upload_bytes;
        let release = releases::publish(&state.store, &state.artifacts, req, stream, limit, Some(auth.user.id)).await?;
        tracing::info!(version = %release.version, target = %release.target, channel = %release.channel,
            sha256 = %release.sha256, by = %auth.user.id, "release published");
        let details = serde_json::json!({"version": release.version.to_string(), "target": release.target.to_string()});
        state.store.audit(auth.audit("release.published").target("release", release.id).details(details)).await?;
        Ok(Published::Created(Json(release.into())))
    }

    /// Every release, newest first, yanked ones included. Server admins only.
    #[oai(path = "/", method = "get")]
    async fn list(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<ReleaseDto>>, ApiError> {
        auth.require_server_admin()?;
        Ok(Json(state.store.releases().await?.into_iter().map(Into::into).collect()))
    }

    /// Yank a release: it leaves the manifests at once. Server admins only.
    #[oai(path = "/:id/yank", method = "post")]
    async fn yank(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Json<ReleaseDto>, ApiError> {
        auth.require_server_admin()?;
        let r = state.store.release(id.0).await?;
        let yanked = state.store.yank_release(r.target, r.version).await?;
        tracing::info!(version = %yanked.version, target = %yanked.target, by = %auth.user.id, "release yanked");
        state.store.audit(auth.audit("release.yanked").target("release", id.0)).await?;
        Ok(Json(yanked.into()))
    }

    /// A channel's manifest: the newest build of each target, signed (by this server's key, or
    /// by an offline key and uploaded), with a fresh download link per target beside it.
    #[oai(path = "/manifest/:channel", method = "get")]
    async fn manifest(
        &self,
        state: Data<&AppState>,
        channel: Path<Channel>,
    ) -> Result<Json<ManifestResponse>, ApiError> {
        let s = &state.settings.releases;
        Ok(Json(signing::manifest_response(&state.store, &state.keys, s, &state.public_url, channel.0.check()?).await?))
    }

    /// The signed manifest for shell scripts: `key_id=…` and `signature=…` lines, a blank line,
    /// then the signed payload exactly (one line of JSON).
    #[oai(path = "/manifest/:channel/signed.txt", method = "get")]
    async fn manifest_text(
        &self,
        state: Data<&AppState>,
        channel: Path<Channel>,
    ) -> Result<PlainText<String>, ApiError> {
        let s = &state.settings.releases;
        let m = signing::manifest_response(&state.store, &state.keys, s, &state.public_url, channel.0.check()?).await?;
        Ok(PlainText(format!("key_id={}\nsignature={}\n\n{}\n", m.key_id, m.signature, m.payload)))
    }

    /// The manifest a release manager signs off the server (`release sign`): the channel's
    /// newest live builds, without links, valid for `expires_in_days` (default 30). Server
    /// admins only.
    #[oai(path = "/manifest/:channel/unsigned", method = "get")]
    async fn unsigned(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        channel: Path<Channel>,
        /// Days the manifest stays valid: 1 to 366 (larger and smaller values are clamped).
        #[oai(validator(minimum(value = "0"), maximum(value = "4294967295")))]
        expires_in_days: Query<Option<u32>>,
    ) -> Result<PlainText<String>, ApiError> {
        auth.require_server_admin()?;
        let days = i64::from(expires_in_days.0.unwrap_or(30).clamp(1, 366));
        let now = crate::store::now();
        let m = signing::unsigned_manifest(&state.store, channel.0.check()?, now, now + days * 86_400).await?;
        Ok(PlainText(serde_json::to_string(&m).map_err(ApiError::internal)?))
    }

    /// Upload a manifest signed off the server (with `releases.signing = "offline"`). It must
    /// be signed by a key in `releases.trusted_keys`, be this channel's, unexpired, newer than
    /// the stored one, and name only live releases. Server admins only.
    #[oai(path = "/manifest/:channel", method = "put")]
    async fn upload_manifest(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        channel: Path<Channel>,
        body: JsonBody<Signed>,
    ) -> Result<Json<ManifestResponse>, ApiError> {
        auth.require_server_admin()?;
        let s = &state.settings.releases;
        let by = Some(auth.user.id);
        let stored = signing::accept_signed(&state.store, s, &state.keys, channel.0.check()?, body.0, by).await?;
        tracing::info!(channel = %&*channel.0, key_id = %stored.key_id, by = %auth.user.id, "signed manifest uploaded");
        Ok(Json(signing::manifest_response(&state.store, &state.keys, s, &state.public_url, channel.0.check()?).await?))
    }

    /// The newest build of one target as `key=value` lines (`version`, `sha256`, `size`,
    /// `file_name`, `url`), for the install scripts. 404 when the channel has none.
    #[oai(path = "/latest", method = "get")]
    async fn latest(
        &self,
        state: Data<&AppState>,
        target: Query<Target>,
        channel: Query<Option<Channel>>,
    ) -> Result<PlainText<String>, ApiError> {
        let channel = channel.0.unwrap_or_else(Channel::stable).check()?.to_string();
        let newest = releases::newest(&state.store, &channel).await?;
        let r = newest.into_iter().find(|r| r.target == *target.0).ok_or_else(|| {
            ApiError::not_found_because(format!("no {channel} release for {} has been published", &*target.0))
        })?;
        let url = releases::download_url(
            &state.keys,
            &state.public_url,
            &r,
            crate::store::now(),
            state.settings.releases.link_ttl_secs,
        );
        Ok(PlainText(format!(
            "version={}\nsha256={}\nsize={}\nfile_name={}\nurl={url}\n",
            r.version, r.sha256, r.size, r.file_name
        )))
    }

    /// Every target agents are built for, with the newest live version on `channel` (default
    /// `stable`), so that a dashboard can say which platforms cannot install an agent yet.
    /// Any signed-in user.
    #[oai(path = "/targets", method = "get")]
    async fn targets(
        &self,
        state: Data<&AppState>,
        _auth: Auth,
        /// `stable` (the default) or `beta`.
        channel: Query<Option<Channel>>,
    ) -> Result<Json<Vec<TargetBuild>>, ApiError> {
        let channel = channel.0.unwrap_or_else(Channel::stable).check()?.to_string();
        let newest = releases::newest(&state.store, &channel).await?;
        Ok(Json(
            TARGETS
                .iter()
                .map(|t| TargetBuild {
                    target: (*t).to_string(),
                    version: newest.iter().find(|r| r.target == *t).map(|r| r.version.clone()),
                })
                .collect(),
        ))
    }

    /// The public key release manifests are signed with (also at
    /// `/.well-known/sessionforge/signing-key`); with several trusted keys, the first.
    #[oai(path = "/signing-key", method = "get")]
    async fn signing_key(&self, state: Data<&AppState>) -> Result<Json<PublicKey>, ApiError> {
        let keys = signing::trusted_keys(&state.settings.releases, &state.keys);
        keys.into_iter().next().map(Json).ok_or_else(|| ApiError::internal("no trusted release key"))
    }

    /// Every public key a manifest of this server may be signed with; agents pin them all.
    #[oai(path = "/signing-keys", method = "get")]
    async fn signing_keys(&self, state: Data<&AppState>) -> Json<Vec<PublicKey>> {
        Json(signing::trusted_keys(&state.settings.releases, &state.keys))
    }
}
