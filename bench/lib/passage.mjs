
// A fixed English passage (written for this benchmark), cut to --prompt-tokens by the
// tokenizer and repeated if a longer prompt is asked for.
export const PASSAGE = `The first lighthouses were fires. Sailors approaching a harbour at night looked for a \
blaze kept burning on a hill or a tower, and the people who tended those fires were paid, often \
badly, by the towns whose trade depended on ships arriving safely. The most famous of the early \
towers stood on the island of Pharos at the entrance to the harbour of Alexandria. It was built \
in the third century before the common era, and travellers described it for more than a thousand \
years, until a series of earthquakes brought it down. Its name survives in several languages as \
the ordinary word for a lighthouse.

For most of the following centuries the technology changed very little. Wood gave way to coal, \
and coal to candles and oil lamps, but the light was still an open flame, and most of it went \
everywhere except towards the sea. A keeper could burn a great deal of fuel and still produce a \
light that a ship's lookout would struggle to see from a few miles away. Smoke blackened the \
glass of the lantern room, and keepers spent long nights cleaning it.

The change came with optics. In the late eighteenth century, engineers began placing polished \
metal reflectors behind the lamps, shaped as parabolas so that the light was gathered into a \
beam. A few decades later the French physicist Augustin Fresnel designed a lens made of many \
concentric rings of glass, each ring a thin slice of a much larger lens. The design was lighter \
and far more efficient than a solid lens of the same power, and it could be built in sizes that \
no glassworks could have cast in one piece. A lamp at the centre of a large Fresnel lens could \
be seen more than twenty miles away.

Lighthouses also had to be told apart. A captain who saw a light on an unfamiliar coast needed \
to know which light it was, and the answer was to give each one a character: a pattern of \
flashes and eclipses, a colour, or a period of rotation. Lists of lights were printed and \
carried on every ship, and a navigator who timed the flashes with a watch could find the \
matching entry and fix the ship's position.

Building the towers was often harder than lighting them. Some of the most dangerous rocks lie \
far offshore and are covered at high tide, so that masons could work only for a few hours a day \
in calm weather, and storms regularly destroyed a season's progress. Engineers learned to cut \
the stones so that each course locked into the one below, making the tower behave almost like \
a single block of granite. Several of those towers still stand and still carry a light.

The keepers' lives were isolated and routine. They trimmed wicks, wound the clockwork that \
turned the lens, kept logs of the weather and of passing ships, and in fog sounded horns or \
bells. On remote stations a relief boat might not arrive for weeks when the sea was rough. \
Over the twentieth century electricity, automatic lamp changers and remote monitoring removed \
the need for keepers, and today almost every lighthouse in the world runs unattended. Satellite \
navigation has made many of them less important than they were, but ships still watch for \
them, and a light on a headland remains one of the simplest and most reliable aids a sailor \
has.`;
