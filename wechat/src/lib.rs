//! Everything Sceneboard says to or hears from WeChat: the API client with its shared access
//! token, QR code tickets, the callback's signatures, AES crypto and XML, and a local simulator
//! of `api.weixin.qq.com`.
//!
//! Pure protocol: no database and no UI. The app plugs its database in through
//! [`token::TokenStore`].

pub mod callback;
pub mod client;
pub mod crypto;
pub mod error;
pub mod scene;
pub mod token;
pub mod xml;

pub use callback::{CallbackError, CallbackQuery, OpenedPush, open_push, verify_url};
pub use client::{AccountConfig, QrCode, QrCodeRequest, QrLifetime, Tag, TokenEndpoint, WechatApi, WechatClient};
pub use crypto::{EncryptMode, MsgCrypt, msg_signature, signature, verify_msg_signature, verify_signature};
pub use error::{CryptoError, SceneError, WechatError, XmlError};
pub use scene::Scene;
pub use token::{MemoryTokenStore, StoredToken, TokenManager, TokenPolicy, TokenStore};
pub use xml::{Envelope, EventKind, InboundMessage, MAX_BODY, Reply};

#[cfg(feature = "sim")]
pub mod sim;
