// Original file: api/proto/berth/shim/v1/events.proto


export interface SubscribeRequest {
}

export interface SubscribeRequest__Output {
}
