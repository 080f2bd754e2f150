// Original file: api/proto/berth/networks/v1/networks.proto


export interface ListNetworksRequest {
}

export interface ListNetworksRequest__Output {
}
