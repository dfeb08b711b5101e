using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class TokenLayoutTests
{
    /// <summary>(B, T) int64 tensors of ids, position ids (the cumulative count of real tokens, as the trainer builds them) and key mask.</summary>
    private static (Tensor Ids, Tensor Positions, Tensor Mask) Batch(long[][] ids, long[][] mask)
    {
        long b = ids.Length, t = ids[0].Length;
        var positions = mask.Select(m => { long n = 0; return m.Select(x => x == 0 ? 0 : n++).ToArray(); }).ToArray();
        return (tensor(ids.SelectMany(r => r).ToArray(), new[] { b, t }), tensor(positions.SelectMany(r => r).ToArray(), new[] { b, t }), tensor(mask.SelectMany(r => r).ToArray(), new[] { b, t }));
    }

    /// <summary>
    /// Per (row, position) of a real token, its causal prefix written out: the (token, position id) pairs of the row's
    /// real tokens up to it. Two positions share a state exactly when these are equal.
    /// </summary>
    private static string?[] Prefixes(long[][] ids, long[][] mask)
    {
        var result = new List<string?>();
        foreach ((long[] row, long[] m) in ids.Zip(mask))
        {
            string prefix = "";
            long position = 0;
            for (int j = 0; j < row.Length; j++)
            {
                if (m[j] == 0)
                {
                    result.Add(null);
                    continue;
                }
                prefix += $"{row[j]}@{position++} ";
                result.Add(prefix);
            }
        }
        return [.. result];
    }

    [Property(MaxTest = 60)]
    public Property Each_distinct_causal_prefix_gets_one_slot_and_every_real_position_reads_its_own() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var random = new Random(seed);
            int b = random.Next(1, 7), t = random.Next(1, 9);
            // a two-letter vocabulary and a shared start make shared prefixes common; left and right padding both occur
            long[][] ids = [.. Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, t).Select(j => (long)(j < 2 ? 5 : random.Next(2))).ToArray())];
            long[][] mask = [.. Enumerable.Range(0, b).Select(_ =>
            {
                int left = random.Next(0, 3), right = random.Next(0, 3);
                return Enumerable.Range(0, t).Select(j => j >= left && j < t - right || random.Next(10) == 0 ? 1L : 0L).ToArray();
            })];
            (Tensor idTensor, Tensor positions, Tensor maskTensor) = Batch(ids, mask);
            string?[] prefixes = Prefixes(ids, mask);
            int distinct = prefixes.Where(p => p is not null).Distinct().Count();
            using TokenLayout? layout = TokenLayout.Of(idTensor, positions, maskTensor);
            if (distinct == b * t || distinct == 0)
            {
                return layout is null;
            }
            if (layout is null || layout.Slots != distinct)
            {
                return false;
            }
            // each slot holds its own index; the padded view gives each real position its slot's index
            using Tensor slots = arange(layout.Slots, ScalarType.Float32).unsqueeze(1);
            float[] read = layout.Padded(slots).reshape(-1).data<float>().ToArray();
            var slotOf = new Dictionary<string, float>();
            for (int i = 0; i < prefixes.Length; i++)
            {
                if (prefixes[i] is { } p && slotOf.TryGetValue(p, out float s) && s != read[i])
                {
                    return false; // one prefix, two slots
                }
                if (prefixes[i] is { } q)
                {
                    slotOf[q] = read[i];
                }
            }
            bool oneSlotPerPrefix = slotOf.Values.Distinct().Count() == distinct;
            // packing a padded view gives back the slots exactly
            bool roundTrip = layout.Packed(layout.Padded(slots)).eq(slots).all().item<bool>();
            // token ids of the slots are those of their positions
            float[] slotIds = layout.SlotIds(idTensor).to_type(ScalarType.Float32).data<float>().ToArray();
            float[] idsRead = layout.Padded(layout.SlotIds(idTensor).to_type(ScalarType.Float32).unsqueeze(1)).reshape(-1).data<float>().ToArray();
            bool idsAgree = Enumerable.Range(0, prefixes.Length).All(i => prefixes[i] is null || idsRead[i] == ids[i / t][i % t]);
            return oneSlotPerPrefix && roundTrip && idsAgree && slotIds.Length == distinct;
        });

    [Fact]
    public void The_rows_of_one_prompt_share_its_states_and_padding_has_none()
    {
        // two rows of the prompt 7 8 9 (the first left-padded by one), responses 1 2 and 1 3 (the second right-padded)
        long[][] ids = [[0, 7, 8, 9, 1, 2], [7, 8, 9, 1, 3, 0]];
        long[][] mask = [[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]];
        (Tensor idTensor, Tensor positions, Tensor maskTensor) = Batch(ids, mask);
        using TokenLayout? layout = TokenLayout.Of(idTensor, positions, maskTensor);
        Assert.NotNull(layout);
        Assert.Equal(6, layout.Slots); // 7 8 9 1 shared, then 2 and 3
    }

    [Fact]
    public void The_same_tokens_at_other_positions_are_other_states()
    {
        (Tensor ids, Tensor _, Tensor mask) = Batch([[4, 4], [4, 4]], [[1, 1], [1, 1]]);
        using TokenLayout? shared = TokenLayout.Of(ids, tensor(new long[] { 0, 1, 0, 1 }, new long[] { 2, 2 }), mask);
        Assert.NotNull(shared);
        Assert.Equal(2, shared.Slots);
        // the second row's positions start at 5 (as after a cached context): nothing is shared, nothing padded
        Assert.Null(TokenLayout.Of(ids, tensor(new long[] { 0, 1, 5, 6 }, new long[] { 2, 2 }), mask));
    }

    [Fact]
    public void A_batch_without_padding_or_shared_prefixes_keeps_the_plain_layout()
    {
        (Tensor ids, Tensor positions, Tensor mask) = Batch([[1, 2, 3], [2, 2, 3]], [[1, 1, 1], [1, 1, 1]]);
        Assert.Null(TokenLayout.Of(ids, positions, mask));
    }
}
