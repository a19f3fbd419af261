"""The vendor sample's approach (Aruba's streamingExport.Decoder.decodeData),
on the same frames netpipe decodes: MsgProto.ParseFromString, the topic
message's ParseFromString, MessageToDict(preserving_proto_field_name=True),
then json.dumps of the dict. Prints messages per second."""
import json, struct, sys, time

sys.path.insert(0, sys.argv[1])
import streaming_pb2, monitoring_pb2
from google.protobuf import json_format

frames = []
with open(sys.argv[2], "rb") as f:
    while header := f.read(4):
        (n,) = struct.unpack("<I", header)
        frames.append(f.read(n))
count = int(sys.argv[3])

envelope = streaming_pb2.MsgProto()
message = monitoring_pb2.MonitoringInformation()
start = time.perf_counter()
total = 0
for i in range(count):
    envelope.ParseFromString(frames[i % len(frames)])
    decoded = {"topic": envelope.subject, "timestamp": envelope.timestamp, "customer_id": envelope.customer_id,
               "data": envelope.data, "msp_ip": envelope.msp_id}
    message.ParseFromString(decoded["data"])
    decoded["data"] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    total += len(json.dumps(decoded))
elapsed = time.perf_counter() - start
print(json.dumps({"rate": count / elapsed, "bytes": total}))
