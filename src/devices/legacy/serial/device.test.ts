import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingIrqLine } from '../../testing/recording-irq-line.js';
import {
  Serial16550,
  UART_DLL,
  UART_DLM,
  UART_FCR,
  UART_FCR_CLEAR_RCVR,
  UART_FCR_CLEAR_XMIT,
  UART_FCR_ENABLE_FIFO,
  UART_IER,
  UART_IER_MSI,
  UART_IER_RDI,
  UART_IER_RLSI,
  UART_IER_THRI,
  UART_IIR,
  UART_IIR_MSI,
  UART_IIR_NO_INT,
  UART_IIR_RDI,
  UART_IIR_RLSI,
  UART_IIR_RX_TIMEOUT,
  UART_IIR_THRI,
  UART_LCR,
  UART_LCR_DLAB,
  UART_LSR,
  UART_LSR_DR,
  UART_LSR_OE,
  UART_LSR_TEMT,
  UART_LSR_THRE,
  UART_MCR,
  UART_MCR_DTR,
  UART_MCR_LOOP,
  UART_MCR_OUT2,
  UART_MCR_RTS,
  UART_MSR,
  UART_RX,
  UART_SCR,
  UART_TX,
} from './device.js';

const R_TRIG_8 = 0x80; // FCR bits 6-7 = 10: receive trigger at 8 bytes (Linux's 16550A setting)

function make(batchOutput = false): { uart: Serial16550; irq: RecordingIrqLine; out: number[]; chunks: number } {
  const irq = new RecordingIrqLine();
  const out: number[] = [];
  const ctx = { uart: undefined as unknown as Serial16550, irq, out, chunks: 0 };
  ctx.uart = new Serial16550({
    irq,
    batchOutput,
    onTransmit: (bytes) => {
      ctx.chunks++;
      out.push(...bytes);
    },
  });
  return ctx;
}

const rd = (u: Serial16550, off: number): number => u.pioRead(off, 1);
const wr = (u: Serial16550, off: number, v: number): void => u.pioWrite(off, 1, v);

/** The register dance of Linux's autoconfig() (drivers/tty/serial/8250/8250_port.c), returning the type it would pick. */
function linuxAutoconfig(u: Serial16550): string {
  // IER test: bits 0-3 must be writable, and read back.
  wr(u, UART_LCR, 0);
  const saveIer = rd(u, UART_IER);
  wr(u, UART_IER, 0);
  const scratch2 = rd(u, UART_IER) & 0x0f;
  wr(u, UART_IER, 0x0f);
  const scratch3 = rd(u, UART_IER) & 0x0f;
  wr(u, UART_IER, saveIer);
  if (scratch2 !== 0 || scratch3 !== 0x0f) return 'none';
  // Loopback test: MCR = LOOP | RTS | OUT2 must read back CTS | DCD in MSR.
  const saveMcr = rd(u, UART_MCR);
  const saveLcr = rd(u, UART_LCR);
  wr(u, UART_MCR, UART_MCR_LOOP | 0x0a);
  const status1 = rd(u, UART_MSR) & 0xf0;
  wr(u, UART_MCR, saveMcr);
  if (status1 !== 0x90) return 'none';
  // EFR probe (LCR = 0xbf), then FIFO enable: IIR bits 6-7 tell the family.
  wr(u, UART_LCR, 0xbf);
  wr(u, 2, 0);
  wr(u, UART_LCR, 0);
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO);
  const scratch = rd(u, UART_IIR) >> 6;
  let type = ['8250', 'unknown', '16550', '16550A'][scratch] ?? 'none';
  if (type === '16550A') {
    // autoconfig_16550a: an EFR that reads 0 under LCR 0xbf would mean a 16650; a 16550A shows IIR there.
    wr(u, UART_LCR, 0xbf);
    if (rd(u, 2) === 0) type = '16650';
    wr(u, UART_LCR, 0x80);
    if (rd(u, 2) === 0) type = '16650?';
    wr(u, UART_LCR, 0);
    // 16750 check: FCR bit 5 (64-byte FIFO) must not show in IIR bit 5.
    wr(u, UART_FCR, UART_FCR_ENABLE_FIFO | 0x20);
    if (rd(u, UART_IIR) >> 5 === 7) type = '16750';
    wr(u, UART_FCR, UART_FCR_ENABLE_FIFO);
    // XScale UUE bit (IER bit 6) must not stick.
    const ier = rd(u, UART_IER);
    wr(u, UART_IER, ier | 0x40);
    if (rd(u, UART_IER) & 0x40) type = 'xscale';
    wr(u, UART_IER, ier);
  }
  wr(u, UART_LCR, saveLcr);
  // Clear FIFOs as autoconfig does at the end.
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  wr(u, UART_FCR, 0);
  rd(u, UART_RX);
  wr(u, UART_IER, 0);
  return type;
}

/** size_fifo(): loopback at a slow divisor, send 256 bytes, count what the receiver kept. */
function linuxSizeFifo(u: Serial16550): number {
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO);
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  wr(u, UART_MCR, UART_MCR_LOOP);
  wr(u, UART_LCR, UART_LCR_DLAB);
  wr(u, UART_DLL, 1);
  wr(u, UART_DLM, 0);
  wr(u, UART_LCR, 0x03);
  for (let i = 0; i < 256; i++) wr(u, UART_TX, i);
  let count = 0;
  for (; rd(u, UART_LSR) & UART_LSR_DR && count < 256; count++) rd(u, UART_RX);
  wr(u, UART_MCR, 0);
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  return count;
}

/** serial8250_do_startup() up to enabling interrupts, with Linux's 16550A FCR. */
function linuxStartup(u: Serial16550): { iir1: number; iir: number } {
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO);
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  wr(u, UART_FCR, 0);
  rd(u, UART_LSR);
  rd(u, UART_RX);
  rd(u, UART_IIR);
  rd(u, UART_MSR);
  assert.notEqual(rd(u, UART_LSR), 0xff);
  // THRE re-assert test.
  wr(u, UART_IER, UART_IER_THRI);
  const iir1 = rd(u, UART_IIR);
  wr(u, UART_IER, 0);
  wr(u, UART_IER, UART_IER_THRI);
  const iir = rd(u, UART_IIR);
  wr(u, UART_IER, 0);
  wr(u, UART_LCR, 0x03);
  wr(u, UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
  rd(u, UART_LSR);
  rd(u, UART_RX);
  rd(u, UART_IIR);
  rd(u, UART_MSR);
  wr(u, UART_FCR, UART_FCR_ENABLE_FIFO | R_TRIG_8);
  wr(u, UART_IER, UART_IER_RLSI | UART_IER_RDI);
  return { iir1, iir };
}

test('Linux autoconfig identifies a 16550A with a 16-byte FIFO', () => {
  const { uart } = make();
  assert.equal(linuxAutoconfig(uart), '16550A');
  assert.equal(linuxSizeFifo(uart), 16);
  assert.equal(uart.metrics().overruns, 256 - 16);
});

test('the loopback test sees no bytes on the host sink and no interrupt', () => {
  const { uart, irq, out } = make();
  wr(uart, UART_IER, 0x0f);
  wr(uart, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
  wr(uart, UART_TX, 0x41);
  assert.deepEqual(out, []);
  assert.equal(irq.level, false, 'OUT2 does not reach the pin in loopback');
  assert.equal(rd(uart, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
  assert.equal(rd(uart, UART_RX), 0x41);
});

test('startup THRE test sees THRE re-asserted, so no UART_BUG_THRE', () => {
  const { uart } = make();
  const { iir1, iir } = linuxStartup(uart);
  assert.equal(iir1 & 0x0f, UART_IIR_THRI);
  assert.equal(iir & 0x0f, UART_IIR_THRI);
});

test('IIR bits 6-7 read 11 with FIFOs on and 00 with FIFOs off', () => {
  const { uart } = make();
  assert.equal(rd(uart, UART_IIR), UART_IIR_NO_INT);
  wr(uart, UART_FCR, UART_FCR_ENABLE_FIFO);
  assert.equal(rd(uart, UART_IIR), 0xc0 | UART_IIR_NO_INT);
});

test('transmit goes to the sink; THRE interrupt follows IER and clears on IIR read', () => {
  const { uart, irq, out } = make();
  linuxStartup(uart);
  assert.equal(irq.level, false);
  for (const c of 'hi\n') wr(uart, UART_TX, c.charCodeAt(0));
  assert.equal(Buffer.from(out).toString(), 'hi\n');
  assert.equal(rd(uart, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), UART_LSR_THRE | UART_LSR_TEMT);
  // start_tx: enabling THRI raises the line.
  wr(uart, UART_IER, UART_IER_RLSI | UART_IER_RDI | UART_IER_THRI);
  assert.equal(irq.level, true);
  // The handler reads IIR: THRE reported, which clears it and lowers the line.
  assert.equal(rd(uart, UART_IIR), 0xc0 | UART_IIR_THRI);
  assert.equal(irq.level, false);
  assert.equal(rd(uart, UART_IIR), 0xc0 | UART_IIR_NO_INT);
  // Writing THR re-arms THRE (the byte left at once).
  wr(uart, UART_TX, 0x21);
  assert.equal(irq.level, true);
  // stop_tx drops THRI: line goes low.
  wr(uart, UART_IER, UART_IER_RLSI | UART_IER_RDI);
  assert.equal(irq.level, false);
  assert.equal(uart.metrics().txBytes, 4);
});

test('without OUT2 the interrupt never reaches the line (PC wiring)', () => {
  const { uart, irq } = make();
  wr(uart, UART_IER, UART_IER_THRI);
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_THRI);
  wr(uart, UART_IER, 0);
  wr(uart, UART_IER, UART_IER_THRI);
  assert.equal(irq.level, false);
  wr(uart, UART_MCR, UART_MCR_OUT2);
  assert.equal(irq.level, true);
});

test('host input waits until the guest enables receive interrupts, then is never lost', () => {
  const { uart, irq } = make();
  uart.enqueueInput(new TextEncoder().encode('early'));
  assert.equal(rd(uart, UART_LSR) & UART_LSR_DR, 0, 'not in the FIFO yet');
  linuxStartup(uart); // clears FIFOs and reads RX several times: must not eat input
  assert.equal(irq.level, true, 'RX timeout interrupt (5 bytes < trigger 8)');
  assert.equal(rd(uart, UART_IIR), 0xc0 | UART_IIR_RX_TIMEOUT);
  let got = '';
  while (rd(uart, UART_LSR) & UART_LSR_DR) got += String.fromCharCode(rd(uart, UART_RX));
  assert.equal(got, 'early');
  assert.equal(irq.level, false);
  assert.equal(rd(uart, UART_IIR), 0xc0 | UART_IIR_NO_INT);
});

test('bytes in the FIFO when Linux closes the tty (IER = 0, FIFO reset) come back on the next open', () => {
  const { uart } = make();
  linuxStartup(uart);
  uart.enqueueInput(new TextEncoder().encode('abc'));
  assert.equal(rd(uart, UART_RX), 0x61);
  // serial8250_shutdown: IER = 0, clear FIFOs, read RX.
  wr(uart, UART_IER, 0);
  wr(uart, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
  wr(uart, UART_FCR, 0);
  rd(uart, UART_RX);
  assert.equal(uart.metrics().pendingInputBytes, 2);
  uart.enqueueInput(new TextEncoder().encode('d'));
  linuxStartup(uart);
  let got = '';
  while (rd(uart, UART_LSR) & UART_LSR_DR) got += String.fromCharCode(rd(uart, UART_RX));
  assert.equal(got, 'bcd');
  assert.equal(uart.metrics().rxBytes, 4);
  // Loopback bytes are not host input: a FIFO reset drops them for good.
  linuxSizeFifo(uart);
  assert.equal(uart.metrics().pendingInputBytes, 0);
});

test('deliverInputWhilePolled lets a polling guest read input with interrupts off', () => {
  const uart = new Serial16550({ irq: new RecordingIrqLine(), deliverInputWhilePolled: true });
  uart.enqueueInput(Uint8Array.of(0x68, 0x69));
  assert.equal(rd(uart, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
  assert.equal(rd(uart, UART_RX), 0x68);
  assert.equal(rd(uart, UART_RX), 0x69, 'non-FIFO mode refills the holding register from the queue');
  assert.equal(rd(uart, UART_LSR) & UART_LSR_DR, 0);
});

test('a long paste is delivered in order through the 16-byte FIFO with RDA at the trigger level', () => {
  const { uart, irq } = make();
  linuxStartup(uart);
  const text = 'x'.repeat(50) + 'the quick brown fox jumps over the lazy dog\n'.repeat(40);
  uart.enqueueInput(new TextEncoder().encode(text));
  assert.equal(irq.level, true);
  assert.equal(rd(uart, UART_IIR), 0xc0 | UART_IIR_RDI);
  assert.equal(uart.metrics().pendingInputBytes, text.length - 16);
  let got = '';
  let interrupts = 0;
  while (irq.level) {
    interrupts++;
    // serial8250_rx_chars: read while DR, at most 256 per interrupt.
    for (let n = 0; n < 256 && rd(uart, UART_LSR) & UART_LSR_DR; n++) got += String.fromCharCode(rd(uart, UART_RX));
  }
  assert.equal(got, text);
  assert.ok(interrupts >= Math.ceil(text.length / 256));
  assert.equal(uart.metrics().rxBytes, text.length);
  assert.equal(uart.metrics().overruns, 0);
});

test('interrupt priority: line status over data over THRE over modem status', () => {
  const { uart } = make();
  wr(uart, UART_FCR, UART_FCR_ENABLE_FIFO);
  wr(uart, UART_IER, 0x0f);
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_THRI);
  // Loopback: fill the FIFO past capacity → overrun, plus modem deltas (host CTS/DCD drop).
  wr(uart, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
  for (let i = 0; i < 17; i++) wr(uart, UART_TX, i);
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_RLSI);
  assert.equal(rd(uart, UART_LSR) & UART_LSR_OE, UART_LSR_OE, 'OE seen once');
  assert.equal(rd(uart, UART_LSR) & UART_LSR_OE, 0, 'LSR read cleared OE');
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_RDI);
  for (let i = 0; i < 16; i++) assert.equal(rd(uart, UART_RX), i, 'the FIFO kept the first 16');
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_THRI);
  // THRE was the source and the read cleared it; modem status is next.
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_MSI);
  assert.equal(rd(uart, UART_MSR) & 0x0f, 0x09, 'DCTS and DDCD: loopback dropped the host CTS and DCD');
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_NO_INT);
});

test('modem status interrupt fires on loopback line changes; TERI only on RI trailing edge', () => {
  const { uart, irq } = make();
  wr(uart, UART_IER, UART_IER_MSI);
  wr(uart, UART_MCR, UART_MCR_LOOP | 0x04); // OUT1 → RI on (leading edge: no TERI)
  assert.equal(rd(uart, UART_MSR), 0x40 | 0x01 | 0x02 | 0x08, 'RI set; CTS/DSR/DCD dropped from host lines → deltas');
  wr(uart, UART_MCR, UART_MCR_LOOP);
  assert.equal(rd(uart, UART_MSR) & 0x0f, 0x04, 'TERI');
  assert.equal(irq.level, false, 'loopback gates the pin');
  wr(uart, UART_MCR, UART_MCR_OUT2); // back to the host lines (CTS, DSR, DCD on)
  assert.equal(irq.level, true);
  assert.equal(rd(uart, UART_IIR) & 0x0f, UART_IIR_MSI);
  assert.equal(rd(uart, UART_MSR), 0xb0 | 0x0b);
  assert.equal(irq.level, false);
});

test('DLAB switches offsets 0 and 1 to the divisor latch; scratch register holds a byte', () => {
  const { uart, out } = make();
  wr(uart, UART_LCR, UART_LCR_DLAB | 3);
  wr(uart, UART_DLL, 1);
  wr(uart, UART_DLM, 0);
  assert.equal(rd(uart, UART_DLL), 1);
  assert.equal(rd(uart, UART_DLM), 0);
  wr(uart, UART_LCR, 3);
  assert.equal(rd(uart, UART_IER), 0);
  assert.deepEqual(out, [], 'DLL write is not a transmit');
  wr(uart, UART_SCR, 0x5a);
  assert.equal(rd(uart, UART_SCR), 0x5a);
  assert.equal(uart.pioRead(UART_SCR, 4), 0xffff_ff5a, 'wider reads float the upper lanes, as an unsigned value');
});

test('non-FIFO mode holds one character and overwrites on overrun', () => {
  const { uart } = make();
  wr(uart, UART_MCR, UART_MCR_LOOP);
  wr(uart, UART_TX, 1);
  wr(uart, UART_TX, 2);
  assert.equal(rd(uart, UART_LSR) & (UART_LSR_DR | UART_LSR_OE), UART_LSR_DR | UART_LSR_OE);
  assert.equal(rd(uart, UART_RX), 2);
  assert.equal(rd(uart, UART_LSR) & UART_LSR_DR, 0);
});

test('batched output reaches the sink on flush or when the buffer fills', () => {
  const ctx = make(true);
  for (let i = 0; i < 10; i++) wr(ctx.uart, UART_TX, 0x61);
  assert.equal(ctx.out.length, 0);
  ctx.uart.flushOutput();
  assert.equal(ctx.out.length, 10);
  for (let i = 0; i < 5000; i++) wr(ctx.uart, UART_TX, 0x62);
  assert.equal(ctx.out.length, 10 + 4096);
  ctx.uart.flushOutput();
  assert.equal(ctx.out.length, 5010);
  assert.equal(ctx.chunks, 3);
});

test('save → restore → save round trip is identical and behaviour continues', () => {
  const a = make();
  linuxStartup(a.uart);
  wr(a.uart, UART_SCR, 0x77);
  a.uart.enqueueInput(new TextEncoder().encode('0123456789abcdefghijklmnop'));
  rd(a.uart, UART_RX); // consume '0'
  const s1 = a.uart.save();
  assert.equal(JSON.stringify(JSON.parse(JSON.stringify(s1))), JSON.stringify(s1), 'plain JSON data');
  const b = make();
  b.uart.restore(JSON.parse(JSON.stringify(s1)));
  assert.deepEqual(b.uart.save(), s1);
  assert.equal(b.irq.level, true, 'restored line level re-driven');
  let got = '';
  while (rd(b.uart, UART_LSR) & UART_LSR_DR) got += String.fromCharCode(rd(b.uart, UART_RX));
  assert.equal(got, '123456789abcdefghijklmnop');
  wr(b.uart, UART_TX, 0x7a);
  assert.deepEqual(b.out, [0x7a]);
  assert.equal(rd(b.uart, UART_SCR), 0x77);
  assert.throws(() => b.uart.restore({ ...s1, version: 2 as 1 }), /version 2/);
});

test('reset returns registers to power-on values but keeps queued host input', () => {
  const { uart } = make();
  linuxStartup(uart);
  wr(uart, UART_IER, 0);
  uart.enqueueInput(Uint8Array.of(0x31, 0x32));
  uart.reset();
  assert.equal(rd(uart, UART_IER), 0);
  assert.equal(rd(uart, UART_LCR), 0);
  assert.equal(rd(uart, UART_IIR), UART_IIR_NO_INT);
  assert.equal(uart.metrics().pendingInputBytes, 2);
  wr(uart, UART_IER, UART_IER_RDI);
  assert.equal(rd(uart, UART_RX), 0x31);
  assert.equal(rd(uart, UART_RX), 0x32);
});
