// A misbehaving VI program for the tests (a ring port, our SDK): it forwards
// what it receives, and with every batch also emits a copy of the first frame
// sent to 198.19.66.66, which none of its rules captures either way round. The
// data plane must drop those copies and the controller raise a spoofing alarm.
import { runRingService } from '../../main/services/sdk/ringService.ts';

await runRingService({
  onBatch(batch) {
    batch.forwardAll();
    const copy = batch.frame(0).slice();
    // The IPv4 destination of an untagged frame: 14 bytes of Ethernet, then 16 into the header.
    if (copy.length >= 34 && copy[12] === 0x08 && copy[13] === 0x00) {
      copy.set([198, 19, 66, 66], 30);
      batch.emit(copy);
    }
  },
});
