import test from 'ava';
import {
  formatEntityTag,
  ifMatchPasses,
  ifNoneMatchPasses,
  parseEntityTag,
  parseTagCondition,
  strongMatch,
  weakMatch,
} from '../../src/protocol/entity-tag.ts';

const strong = (opaque: string) => ({ weak: false, opaque });
const weak = (opaque: string) => ({ weak: true, opaque });

test('parses strong and weak entity tags', (t) => {
  t.deepEqual(parseEntityTag('"abc"'), strong('abc'));
  t.deepEqual(parseEntityTag('W/"abc"'), weak('abc'));
  t.deepEqual(parseEntityTag('""'), strong(''));
  t.is(parseEntityTag('abc'), undefined);
  t.is(parseEntityTag('"a"b"'), undefined);
  t.is(parseEntityTag('w/"abc"'), undefined, 'the weak prefix is case-sensitive (RFC 9110 §8.8.3)');
});

test('formats tags back', (t) => {
  t.is(formatEntityTag(strong('7')), '"7"');
  t.is(formatEntityTag(weak('7')), 'W/"7"');
});

test('parses `*` and lists, keeping commas inside quotes', (t) => {
  t.deepEqual(parseTagCondition('*'), { any: true });
  t.deepEqual(parseTagCondition(' * '), { any: true });
  t.deepEqual(parseTagCondition('"1", W/"2" ,"a,b"'), { any: false, tags: [strong('1'), weak('2'), strong('a,b')] });
  t.is(parseTagCondition(undefined), undefined);
});

test('garbage members are dropped, so garbage never matches', (t) => {
  t.deepEqual(parseTagCondition('garbage'), { any: false, tags: [] });
  t.deepEqual(parseTagCondition('1, "2", x"3'), { any: false, tags: [strong('2')] });
  t.deepEqual(parseTagCondition('"unterminated'), { any: false, tags: [] });
  t.deepEqual(parseTagCondition(''), { any: false, tags: [] });
  t.deepEqual(parseTagCondition('*, "1"'), { any: false, tags: [strong('1')] }, '`*` inside a list is not the wildcard');
});

test('comparison functions follow RFC 9110 §8.8.3.2 table', (t) => {
  // The table in §8.8.3.2: W/"1" vs W/"1": strong no, weak yes; W/"1" vs W/"2": no, no;
  // W/"1" vs "1": no, yes; "1" vs "1": yes, yes.
  t.false(strongMatch(weak('1'), weak('1')));
  t.true(weakMatch(weak('1'), weak('1')));
  t.false(strongMatch(weak('1'), weak('2')));
  t.false(weakMatch(weak('1'), weak('2')));
  t.false(strongMatch(weak('1'), strong('1')));
  t.true(weakMatch(weak('1'), strong('1')));
  t.true(strongMatch(strong('1'), strong('1')));
  t.true(weakMatch(strong('1'), strong('1')));
});

test('If-Match uses strong comparison; `*` needs a current representation', (t) => {
  t.true(ifMatchPasses({ any: true }, strong('1')));
  t.false(ifMatchPasses({ any: true }, undefined));
  t.true(ifMatchPasses({ any: false, tags: [strong('2'), strong('1')] }, strong('1')));
  t.false(ifMatchPasses({ any: false, tags: [weak('1')] }, strong('1')));
  t.false(ifMatchPasses({ any: false, tags: [] }, strong('1')));
});

test('If-None-Match uses weak comparison; `*` fails when a representation exists', (t) => {
  t.false(ifNoneMatchPasses({ any: true }, strong('1')));
  t.true(ifNoneMatchPasses({ any: true }, undefined));
  t.false(ifNoneMatchPasses({ any: false, tags: [weak('1')] }, strong('1')));
  t.true(ifNoneMatchPasses({ any: false, tags: [strong('2')] }, strong('1')));
});
