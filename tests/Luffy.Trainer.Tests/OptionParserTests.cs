using System.Reflection;

namespace Luffy.Trainer.Tests;

public class OptionParserTests
{
    [Fact]
    public void Help_lists_every_option_with_its_default()
    {
        string help = OptionParser.Help();
        foreach (PropertyInfo p in typeof(TrainerOptions).GetProperties().Where(p => p.CanWrite))
        {
            Assert.Contains("--" + OptionParser.Kebab(p.Name), help);
        }
        Assert.Contains("default: luffy", help);
        Assert.Contains("default: 0.01", help);
    }

    [Fact]
    public void Command_line_values_are_parsed()
    {
        TrainerOptions o = OptionParser.Parse(["--mode", "grpo", "--steps", "7", "--gamma", "0.3", "--resume"])!;
        Assert.Equal("grpo", o.Mode);
        Assert.Equal(7, o.Steps);
        Assert.Equal(0.3, o.Gamma);
        Assert.True(o.Resume);
    }

    [Theory]
    [InlineData("--steps", "ten", "--steps 'ten'")]
    [InlineData("--mode", "ppo", "--mode 'ppo'")]
    [InlineData("--gamma", "0", "--gamma '0'")]
    [InlineData("--top-p", "1.5", "--top-p '1.5'")]
    [InlineData("--train-levels", "1-3", "--train-levels '1-3'")]
    [InlineData("--d-model", "30", "--d-model '30'")]
    [InlineData("--bogus", "1", "--bogus")]
    [InlineData("--pretrain-trace-levels", "4", "--pretrain-trace-levels '4'")]
    [InlineData("--pretrain-trace-levels", "two", "--pretrain-trace-levels 'two'")]
    [InlineData("--micro-batch-layout", "sideways", "--micro-batch-layout 'sideways'")]
    [InlineData("--kl-coefficient", "-0.1", "--kl-coefficient '-0.1'")]
    [InlineData("--sweep-learning-rates", "1e-4,x", "--sweep-learning-rates '1e-4,x'")]
    [InlineData("--sweep-learning-rates", "1e-4,0", "--sweep-learning-rates '1e-4,0'")]
    [InlineData("--sweep-learning-rates", "1e-4,1e-4", "--sweep-learning-rates '1e-4,1e-4'")]
    public void Bad_values_name_the_option(string option, string value, string expected)
    {
        var ex = Assert.Throws<OptionException>(() => OptionParser.Parse([option, value]));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_kl_penalty_with_sft_changes_nothing_and_is_refused()
    {
        var ex = Assert.Throws<OptionException>(() => OptionParser.Parse(["--mode", "sft", "--kl-coefficient", "0.1"]));
        Assert.Contains("--kl-coefficient '0.1'", ex.Message);
        Assert.Equal(0.1, OptionParser.Parse(["--mode", "grpo", "--kl-coefficient", "0.1"])!.KlCoefficient);
    }

    [Theory]
    [InlineData(new[] { "--mode", "exgrpo", "--dynamic-sampling" }, "--dynamic-sampling 'true'")]
    [InlineData(new[] { "--mode", "compare", "--dynamic-sampling" }, "leave exgrpo out of --methods")]
    [InlineData(new[] { "--mode", "luffy", "--replay-share", "0.25" }, "--replay-share '0.25' is not valid; expected its default without exgrpo")]
    [InlineData(new[] { "--mode", "grpo", "--replay-start", "0.1" }, "--replay-start '0.1'")]
    [InlineData(new[] { "--mode", "exgrpo", "--replay-share", "0" }, "--replay-share '0'")]
    [InlineData(new[] { "--mode", "exgrpo", "--replay-start", "1" }, "--replay-start '1'")]
    public void Exgrpo_options_that_would_change_nothing_or_are_out_of_range_are_refused(string[] args, string message)
    {
        var ex = Assert.Throws<OptionException>(() => OptionParser.Parse(args));
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void Exgrpo_takes_its_replay_options_and_compare_without_it_takes_dynamic_sampling()
    {
        TrainerOptions o = OptionParser.Parse(["--mode", "exgrpo", "--replay-share", "0.25", "--replay-start", "0"])!;
        Assert.Equal((0.25, 0.0), (o.ReplayShare, o.ReplayStart));
        Assert.True(OptionParser.Parse(["--mode", "compare", "--methods", "luffy,grpo", "--dynamic-sampling"])!.DynamicSampling);
    }

    [Fact]
    public void Dynamic_sampling_with_sft_changes_nothing_and_is_refused()
    {
        var ex = Assert.Throws<OptionException>(() => OptionParser.Parse(["--mode", "sft", "--dynamic-sampling"]));
        Assert.Contains("--dynamic-sampling 'true'", ex.Message);
        Assert.True(OptionParser.Parse(["--mode", "sft-grpo", "--dynamic-sampling"])!.DynamicSampling); // its GRPO half filters
    }

    [Fact]
    public void The_on_policy_clip_with_one_update_per_rollout_batch_changes_nothing_and_is_refused()
    {
        foreach (string[] args in new[] { new[] { "--ppo-epochs", "1" }, ["--mode", "grpo", "--ppo-epochs", "1"], ["--mode", "compare", "--methods", "sft,grpo", "--ppo-epochs", "1"] })
        {
            var ex = Assert.Throws<OptionException>(() => OptionParser.Parse(args));
            Assert.Contains("--clip-on-policy 'true' is not valid; expected false with one update per rollout batch", ex.Message);
        }
        Assert.False(OptionParser.Parse(["--ppo-epochs", "1", "--clip-on-policy", "false"])!.ClipOnPolicy);
        Assert.Equal(2, OptionParser.Parse(["--ppo-epochs", "1", "--mini-batches", "2"])!.MiniBatches); // a second update: the clip acts
        Assert.Equal(1, OptionParser.Parse(["--mode", "sft", "--ppo-epochs", "1"])!.PpoEpochs);        // no ratio: the clip is not SFT's
        Assert.Equal(1, OptionParser.Parse(["--mode", "exgrpo", "--ppo-epochs", "1"])!.PpoEpochs);     // its script's clip schedule
        Assert.Equal(1, OptionParser.Parse(["--mode", "compare", "--methods", "sft,exgrpo", "--ppo-epochs", "1"])!.PpoEpochs);
        TrainerOptions defaults = OptionParser.Parse([])!;
        Assert.Equal((2, 1, true), (defaults.PpoEpochs, defaults.MiniBatches, defaults.ClipOnPolicy));
    }

    [Fact]
    public void The_sweep_mode_writes_its_own_sweep_and_reads_none()
    {
        var ex = Assert.Throws<OptionException>(() => OptionParser.Parse(["--mode", "sweep", "--sweep", "x.json"]));
        Assert.Contains("--sweep 'x.json'", ex.Message);
        Assert.Equal("sweep", OptionParser.Parse(["--mode", "sweep"])!.Mode);
    }

    [Fact]
    public void A_json_file_supplies_options_and_the_command_line_wins()
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, """{ "steps": 11, "mode": "sft", "learning-rate": 0.001 }""");
        try
        {
            TrainerOptions o = OptionParser.Parse(["--config", path, "--steps", "12"])!;
            Assert.Equal(12, o.Steps);
            Assert.Equal("sft", o.Mode);
            Assert.Equal(0.001, o.LearningRate);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_broken_json_file_is_named()
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, "{ steps: ");
        try
        {
            var ex = Assert.Throws<OptionException>(() => OptionParser.Parse(["--config", path]));
            Assert.Contains(path, ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Help_returns_null() => Assert.Null(OptionParser.Parse(["--help"]));
}
