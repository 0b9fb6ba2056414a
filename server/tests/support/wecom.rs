//! A local stand-in for a WeCom group robot's webhook: it keeps each message posted to
//! `/cgi-bin/webhook/send?key=…` and answers as WeCom does, `errcode` 0 or the code it is told
//! to refuse with.

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Robot {
    pub base: String,
    /// `(key, body)` of every post, in order.
    posts: Arc<Mutex<Vec<(String, Value)>>>,
    refuse_with: Arc<AtomicI64>,
}

impl Robot {
    pub async fn start() -> Robot {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let robot = Robot { base: format!("http://{}", listener.local_addr().unwrap()), ..Default::default() };
        let app = axum::Router::new().route("/cgi-bin/webhook/send", axum::routing::post(receive)).with_state(robot.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        robot
    }

    /// The robot's webhook address with `key`.
    pub fn webhook(&self, key: &str) -> String {
        format!("{}/cgi-bin/webhook/send?key={key}", self.base)
    }

    /// The markdown of each message received, in order.
    pub fn messages(&self) -> Vec<String> {
        self.posts.lock().unwrap().iter().map(|(_, body)| body["markdown"]["content"].as_str().unwrap_or_default().to_owned()).collect()
    }

    pub fn posts(&self) -> Vec<(String, Value)> {
        self.posts.lock().unwrap().clone()
    }

    /// Answer every post with `errcode` (0: accept again).
    pub fn refuse_with(&self, errcode: i64) {
        self.refuse_with.store(errcode, Ordering::SeqCst);
    }
}

async fn receive(State(robot): State<Robot>, Query(q): Query<HashMap<String, String>>, Json(body): Json<Value>) -> Json<Value> {
    let code = robot.refuse_with.load(Ordering::SeqCst);
    if code != 0 {
        return Json(json!({ "errcode": code, "errmsg": "invalid webhook url, hint: [test]" }));
    }
    robot.posts.lock().unwrap().push((q.get("key").cloned().unwrap_or_default(), body));
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}
