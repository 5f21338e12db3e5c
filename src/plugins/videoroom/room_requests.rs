//! The synchronous requests addressed to one room (`destroy`, `edit`,
//! `kick`, `moderate`, `allowed`, recording, ingests, restreams, layout):
//! each is read from its body, sent to the room as a typed [`Command`] and
//! its result shaped as videoroom JSON.

use super::*;

impl VideoRoom {
    /// A synchronous request to room `id`.
    pub(super) fn room_request(
        &self,
        request: Request,
        p: &Params,
        room: &RoomHandle,
        id: Id,
    ) -> Result<Answer, VideoRoomError> {
        use request::secret;
        let r = id.clone();
        Ok(match request {
            Request::Destroy => {
                let secret = secret(p)?;
                let asked = ask(
                    room,
                    |reply| Command::Destroy { secret, reply },
                    move |()| reply::destroyed(&r),
                );
                let rooms = self.rooms.clone();
                Box::pin(async move {
                    let done = asked.await;
                    if done.is_ok() {
                        lock(&rooms).remove(&id);
                        info!(room = %id, "room destroyed");
                    }
                    done
                })
            }
            Request::Edit => {
                let (secret, edit) = (secret(p)?, create::parse_edit(p)?);
                ask(
                    room,
                    |reply| Command::Edit {
                        secret,
                        edit,
                        reply,
                    },
                    move |()| reply::edited(&r),
                )
            }
            Request::ListParticipants => ask(
                room,
                |reply| Command::ListParticipants { reply },
                move |list| reply::participants(&r, &list),
            ),
            Request::Allowed => {
                let secret = secret(p)?;
                let action = match p.req_str("action")? {
                    "enable" => AllowedAction::Enable,
                    "disable" => AllowedAction::Disable,
                    "add" => AllowedAction::Add,
                    "remove" => AllowedAction::Remove,
                    other => {
                        return Err(VideoRoomError::InvalidElement(
                            "action".into(),
                            format!("enable, disable, add or remove (not '{other}')"),
                        ));
                    }
                };
                let tokens = request::string_list(p, "allowed")?;
                let room_json = id.to_json();
                ask(
                    room,
                    |reply| Command::Allowed {
                        secret,
                        action,
                        tokens,
                        reply,
                    },
                    move |list| {
                        let mut v = json!({"videoroom": "success", "room": room_json});
                        if let Some(list) = list {
                            v["allowed"] = json!(list);
                        }
                        v
                    },
                )
            }
            Request::Kick => {
                let (secret, target) = (secret(p)?, p.req_id("id")?);
                ask(
                    room,
                    |reply| Command::Kick {
                        secret,
                        id: target,
                        reply,
                    },
                    |()| reply::success(json!({})),
                )
            }
            Request::Moderate => {
                let (secret, target, mid, mute) = request::moderate(p)?;
                ask(
                    room,
                    |reply| Command::Moderate {
                        secret,
                        id: target,
                        mid,
                        mute,
                        reply,
                    },
                    |()| reply::success(json!({})),
                )
            }
            Request::EnableRecording => {
                let (secret, record) = (secret(p)?, p.req_bool("record")?);
                let events = self.events.clone();
                ask(
                    room,
                    |reply| Command::EnableRecording {
                        secret,
                        record,
                        reply,
                    },
                    move |()| {
                        let data =
                            json!({"event": "recording", "room": r.to_json(), "recording": record});
                        events.report(None, PLUGIN, data);
                        reply::success(json!({"room": r.to_json(), "record": record}))
                    },
                )
            }
            Request::RecordMix => {
                let secret = secret(p)?;
                let record = p.req_bool("record")?;
                let filename = p.str("filename")?.map(str::to_owned);
                ask(
                    room,
                    |reply| Command::RecordMix {
                        secret,
                        record,
                        filename,
                        reply,
                    },
                    move |state| match state {
                        Some(s) => reply::success(
                            json!({"room": r.to_json(), "record": true, "recording": reply::recording_state(&s)}),
                        ),
                        None => reply::success(json!({"room": r.to_json(), "record": false})),
                    },
                )
            }
            Request::AddIngest => {
                let (secret, params) = (secret(p)?, request::add_ingest(p)?);
                ask(
                    room,
                    |reply| Command::AddIngest {
                        secret,
                        params,
                        reply,
                    },
                    |feed: Id| reply::success(json!({"id": feed.to_json()})),
                )
            }
            Request::RemoveIngest => {
                let (secret, feed) = (secret(p)?, p.req_id("id")?);
                let removed = feed.to_json();
                ask(
                    room,
                    |reply| Command::RemoveIngest {
                        secret,
                        id: feed,
                        reply,
                    },
                    move |()| reply::success(json!({"removed": removed})),
                )
            }
            Request::StartRtmp => {
                let (url, source) = request::start_rtmp(p)?;
                let secret = secret(p)?;
                ask(
                    room,
                    |reply| Command::StartRtmp {
                        secret,
                        url,
                        source,
                        reply,
                    },
                    |e| reply::success(json!({"rtmp": reply::egress(&e)})),
                )
            }
            Request::StopRtmp => {
                let secret = secret(p)?;
                let egress = p
                    .u64("id")?
                    .ok_or_else(|| VideoRoomError::MissingElement("id".into()))?;
                ask(
                    room,
                    |reply| Command::StopRtmp {
                        secret,
                        id: EgressId(egress),
                        reply,
                    },
                    |e| reply::success(json!({"rtmp": reply::egress(&e)})),
                )
            }
            Request::SetLayout => {
                let layout = request::layout(p)?;
                let name = layout.name();
                let secret = p.str("secret").ok().flatten().map(str::to_owned);
                ask(
                    room,
                    |reply| Command::SetLayout {
                        secret,
                        layout,
                        reply,
                    },
                    move |()| reply::success(json!({"room": r.to_json(), "layout": name})),
                )
            }
            Request::ListIngests => {
                let (tx, rx) = oneshot::channel();
                if room.send(Command::IngestStatus { reply: tx }).is_err() {
                    return Err(VideoRoomError::Unknown("room gone".into()));
                }
                Box::pin(async move {
                    match tokio::time::timeout(ROOM_REPLY_TIMEOUT, rx).await {
                        Ok(Ok(status)) => Ok(reply::ingest_status(&status)),
                        _ => Err(VideoRoomError::Unknown("the room did not answer".into())),
                    }
                })
            }
            other => return Err(VideoRoomError::InvalidRequest(other.name().to_owned())),
        })
    }
}
