// test/core/kernel/netlink/codec.test.ts — nlmsg/rtattr encoding and decoding (no root).
import assert from 'node:assert/strict';
import {
  attrStr, attrU32, MessageWriter, NLA_F_NESTED, NLM_F, NLMSG, parseAttrList, parseAttrs, parseError, parseMessages, RTM,
} from '../../../../core/kernel/netlink/codec.js';

describe('kernel/netlink codec', () => {
  it('frames a message with header, struct, aligned attributes and a nest', () => {
    const w = new MessageWriter(32); // small: forces growth
    w.begin(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK);
    const off = w.struct(16);
    w.buf.writeInt32LE(7, off + 4);
    w.str(3, 'br0'); // 4 + 4 bytes, no padding
    w.u8(99, 1); // 4 + 1 → padded to 8
    const n = w.nest(18);
    w.str(1, 'bridge');
    w.u32(2, 0xdeadbeef);
    w.end(n);
    const msg = w.finish();
    assert.equal(msg.readUInt32LE(0), msg.length);
    assert.equal(msg.length % 4, 0);
    assert.equal(msg.readUInt16LE(4), RTM.NEWLINK);
    assert.equal(msg.readUInt16LE(6), NLM_F.REQUEST | NLM_F.ACK);
    const [m] = parseMessages(msg);
    assert.equal(m!.payload.readInt32LE(4), 7);
    const attrs = parseAttrs(m!.payload, 16);
    assert.equal(attrStr(attrs.get(3)), 'br0');
    assert.equal(attrs.get(99)!.length, 1);
    // nested type carries NLA_F_NESTED on the wire, masked off when parsed
    const nestOff = 16 + 8 + 8; // ifinfomsg, "br0", u8
    assert.equal(m!.payload.readUInt16LE(nestOff + 2), 18 | NLA_F_NESTED);
    const inner = parseAttrs(attrs.get(18)!);
    assert.equal(attrStr(inner.get(1)), 'bridge');
    assert.equal(attrU32(inner.get(2)), 0xdeadbeef);
    assert.equal(m!.payload.readUInt16LE(nestOff), 4 + 12 + 8);
  });

  it('splits multi-message datagrams and keeps duplicate attributes in list form', () => {
    const a = new MessageWriter().begin(NLMSG.DONE, NLM_F.MULTI);
    a.u32(1, 5).u32(1, 6);
    const one = Buffer.from(a.finish());
    const two = Buffer.from(new MessageWriter().begin(NLMSG.DONE, 0).finish());
    const msgs = parseMessages(Buffer.concat([one, two]));
    assert.deepEqual(msgs.map((m) => [m.type, m.flags]), [[NLMSG.DONE, NLM_F.MULTI], [NLMSG.DONE, 0]]);
    assert.deepEqual(parseAttrList(msgs[0]!.payload).map(([t, v]) => [t, v.readUInt32LE(0)]), [[1, 5], [1, 6]]);
    assert.equal(attrU32(parseAttrs(msgs[0]!.payload).get(1)), 6);
    // truncated input stops cleanly
    assert.equal(parseMessages(one.subarray(0, 10)).length, 0);
  });

  it('decodes an NLMSG_ERROR with a capped echo and an extended-ack message', () => {
    const w = new MessageWriter().begin(NLMSG.ERROR, NLM_F.CAPPED | NLM_F.ACK_TLVS);
    const off = w.struct(4 + 16);
    w.buf.writeInt32LE(-17, off);
    w.buf.writeUInt32LE(16, off + 4);
    w.str(1, 'Device already exists');
    const [m] = parseMessages(w.finish());
    assert.deepEqual(parseError(m!), { errno: 17, extack: 'Device already exists' });
    const ack = new MessageWriter().begin(NLMSG.ERROR, NLM_F.CAPPED);
    ack.struct(20);
    assert.deepEqual(parseError(parseMessages(ack.finish())[0]!), { errno: 0 });
  });
});
