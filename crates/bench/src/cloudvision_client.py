"""The baseline of the CloudVision row: what the vendor's examples do to read
events (cloudvision-python's resource API usage): grpcio, the event
messages, a bearer token, and per response MessageToDict then json.dumps.
The message classes come from the project's wire-identical .proto files
(compiled by grpcio-tools' protoc into a descriptor set), the same protobuf
runtime the `cloudvision` package's generated modules use.

    python cloudvision_client.py HOST:PORT DESCRIPTORS TOKEN COUNT   ->   {"rate": events/s}
"""

import json
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.json_format import MessageToDict

address, descriptors, token, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
files = descriptor_pb2.FileDescriptorSet()
with open(descriptors, "rb") as f:
    files.ParseFromString(f.read())
pool = descriptor_pool.DescriptorPool()
for file in files.file:
    pool.Add(file)
request_type = message_factory.GetMessageClass(pool.FindMessageTypeByName("arista.event.v1.EventStreamRequest"))
response_type = message_factory.GetMessageClass(pool.FindMessageTypeByName("arista.event.v1.EventStreamResponse"))

channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
subscribe = channel.unary_stream(
    "/arista.event.v1.EventService/Subscribe",
    request_serializer=request_type.SerializeToString,
    response_deserializer=response_type.FromString,
)
start = time.perf_counter()
seen = 0
for response in subscribe(request_type(), metadata=[("authorization", f"Bearer {token}")]):
    if not response.HasField("value"):
        continue
    json.dumps(MessageToDict(response, preserving_proto_field_name=True))
    seen += 1
    if seen >= count:
        break
print(json.dumps({"rate": seen / (time.perf_counter() - start)}))
